// Package failover measures failover and racing approvals on a replicated deployment: three
// replicas of the real smartcloudops binary on a three-member etcd cluster (Debian's etcd, through
// internal/testenv), driven through their REST API and observed through /metrics and the files
// their script actions write.
//
// It sits outside the product flow, like the scenario suite, and holds one test behind the build
// tag `loadtest`:
//
//	go test -tags loadtest -run TestFailoverLoad -v -timeout 30m ./loadtest/failover/ \
//	    -args -kills 20 -latency 200 -race 1000 -json bin/failover.json
//
// It SIGKILLs the leader -kills times (its supervisor starts it again a second later, as
// systemd's Restart=always would) and measures, for each kill, how long until another replica
// leads (its smartcloudops_leader gauge), ticks (its first check tick) and starts the approval
// made while no replica led; it checks that the action running at the kill ran once and is
// unknown, and that every approval ran exactly once. It then measures approval → action start
// on etcd over -latency sequential approvals, and approves -race proposals twice each, on two
// replicas at once, expecting exactly -race executions. It prints a table and JSON.
// Correctness (no duplicate, no lost approval, exactly one execution each) fails the test;
// timings are reported beside their targets, never asserted.
package failover
