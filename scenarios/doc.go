// Package scenarios is the acceptance suite of SmartCloudOps: each user story is a test (build
// tag `scenarios`, run by `make scenarios`) that starts the real binary, built once, against
// Debian's Prometheus, Alertmanager and node exporter and a small exporter whose values the test
// sets, types commands at the console through a pipe, and asserts on what a user sees there:
// cards, proposals and their states, thread replies, command replies and the audit trail.
//
// It sits outside the product flow (sources → detector → incidents → rules → remediation →
// notifier → chat) and drives all of it from both ends. The servers come from internal/testenv;
// scripts/install-test-deps.sh installs them, and the suite fails, rather than skips, when one is
// missing. See README.md for what each story proves and how to run it.
package scenarios
