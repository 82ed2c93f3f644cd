// Package testenv starts the real servers that SmartCloudOps' integration tests (build tag
// `integration`) and the scenario suite (scenarios/, build tag `scenarios`) run against:
// Prometheus, the Prometheus node exporter, Alertmanager and etcd (a single member, or a 3-member
// cluster whose members a test kills and restarts, optionally with TLS client certificates it
// generates), from the Debian packages that scripts/install-test-deps.sh installs (`make
// test-integration` and the CI run it first). Proxy, a TCP proxy the test partitions and heals,
// cuts one client off from a server as a network partition would.
//
// It is test support, outside the product flow (sources → detector → incident → rules →
// remediation → bot): it gives the tests of the Prometheus source, of the Alertmanager edge and
// of the etcd store real peers. Each server runs in its own process group in t.TempDir(), listens
// on free 127.0.0.1 ports only, is waited on until it reports ready within a bounded deadline,
// and is killed when the test ends. Its output goes to a file whose tail is printed when the test
// fails. A Server can be stopped and started again on the same port, for tests of an outage.
// When a binary is not installed the test is skipped with a message saying how to install it;
// Missing lets a suite that must not skip fail at once instead.
package testenv
