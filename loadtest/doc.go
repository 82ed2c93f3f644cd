// Package loadtest is the load harness of SmartCloudOps (`make loadtest`, never part of `make
// test`): it measures the live bot, the real binary, end to end on loopback, and reports figures
// rather than passing or failing.
//
// It drives the flow (sources → detector → incidents → rules → remediation → notifier → chat)
// from both ends, as the scenario suite does, but with volume: FakeProm is a Prometheus HTTP API
// with N series of a daily pattern plus noise and a storm switch that throws every series far
// outside it; Flood is an Alertmanager webhook client that delivers unique notifications as
// Alertmanager does (retried until acknowledged, optionally twice at once) and logs every
// acknowledged alert; Wrk runs Debian's wrk with a script of the same notifications for the
// throughput figure. Bot starts, stops, kills and restarts the binary on a configuration the
// harness writes, and reads its metrics, its API and /proc. CheckLoss reads every incident and
// proposal back through the API to say which acknowledged alert lost its incident or proposal or
// got two.
//
// The scenarios are Throughput (webhook intake with wrk, then list pages at K stored items),
// ZeroLoss (client timeouts, redelivery, SIGKILL mid-flood), Storm (every series anomalous at
// once) and Steady (tick, memory and state saving at N series). Each bounds its waits, cleans up
// its processes and keeps its files (configuration, log, console transcript, ack log) under its
// own directory; Report renders the table and the JSON beside it. cmd/loadtest is the
// command; README.md says how each figure is measured and what limits it.
package loadtest
