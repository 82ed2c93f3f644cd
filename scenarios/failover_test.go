//go:build scenarios

package scenarios

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/smartcloudops/smartcloudops/internal/testenv"
)

// failoverRules are the rules of the failover stories: an alert FailoverLoad proposes record.sh
// for its instance; an alert FailoverSlow proposes slow.sh, which takes slow seconds.
func failoverRules(slow int) string {
	return fmt.Sprintf(`groups:
  - name: failover
    rules:
      - name: failover-record
        description: Scale the instance out when it is overloaded.
        alert: {alertname: FailoverLoad}
        severity: critical
        action:
          name: script
          params: {script: record.sh, args: ['{{ .labels.instance }}', 'scale-out']}
        approval: {roles: [operator]}
      - name: failover-slow
        description: Rebuild the instance's index, which takes a while.
        alert: {alertname: FailoverSlow}
        severity: critical
        action:
          name: script
          params: {script: slow.sh, args: ['{{ .labels.instance }}', '%d']}
        approval: {roles: [operator]}
`, slow)
}

// alertProposal fires an alert at replica r and waits until some console shows its incident's
// card with the rule's proposal pending; it returns that card and the proposal.
func alertProposal(t *testing.T, rs *replicaSet, r *replica, alertname, instance string) (card, proposal) {
	t.Helper()
	fireAlert(t, r, alertname, instance)
	c := rs.waitCard(fmt.Sprintf("the card of %s on %s with its proposal", alertname, instance), func(c card) bool {
		return strings.HasPrefix(c.Title, alertname) && strings.Contains(c.Fields["where"], "instance="+instance) &&
			len(c.Props) > 0 && c.Props[0].State == "pending"
	})
	return c, c.Props[0]
}

// approveOn approves p at r's console and checks the reply names it and is not an error.
func approveOn(t *testing.T, r *replica, p proposal) string {
	t.Helper()
	reply := r.ask("approve " + p.ID)
	if strings.Contains(reply, "internal error") || !strings.Contains(reply, p.ID) {
		t.Errorf("the reply to `approve %s` at %s is %q; want it to name the proposal and what became of it", p.ID, r.name, reply)
	}
	return reply
}

// wantOnePostedCard checks that every incident got exactly one card, across every replica's
// console: a new leader edits the cards of open incidents, it never posts them again.
func wantOnePostedCard(t *testing.T, rs *replicaSet, incidents ...string) {
	t.Helper()
	all := rs.allCards()
	for _, id := range incidents {
		if n := postedCards(all, id); n != 1 {
			t.Errorf("incident %s got %d cards across the replicas' consoles; want 1", id, n)
		}
	}
}

// wantAuditIntact runs `smartcloudops audit verify --config` on the etcd store beside the
// running replicas.
func wantAuditIntact(t *testing.T, r *replica) {
	t.Helper()
	out, err := r.command("audit", "verify", "--config", r.config)
	if err != nil || !strings.Contains(out, "audit log intact") {
		t.Errorf("audit verify --config on the etcd store: %v\n%s", err, out)
	}
}

// historyOf returns `history <id>` at r's console once it shows want.
func historyOf(r *replica, id, want string) string {
	return r.eventually("history "+id, "the audit trail of "+id+" to show "+want, func(s string) bool {
		return strings.Contains(s, want)
	})
}

// countKinds counts the records of a kind in a `history` reply.
func countKinds(hist, kind string) int {
	return len(regexp.MustCompile(`(?m)^#\d+ .* `+regexp.QuoteMeta(kind)+`\b`).FindAllString(hist, -1))
}

// replicasFailover is three replicas on etcd: one leads and every /readyz names it; the leader
// is SIGKILLed while an action runs, and the action is `unknown` on the new leader, said in its
// card's thread and never run again; the next approval runs on the new leader; the new leader
// is SIGKILLed while approvals made on a follower wait for a leader, and each runs exactly once
// on the next. Incidents keep their one card throughout, and the audit is one intact chain.
func replicasFailover(t *testing.T, e *env) {
	rs := startReplicas(t, replicaSpec{n: 3, prefix: "/scenarios/failover/", rules: failoverRules(30),
		endpoints: func(int) []string { return e.etcd.Endpoints() }})

	// Election: one replica leads, and every replica's /readyz and `status` name it.
	first := rs.waitLeader("one leader that every replica's /readyz names", nil)
	for _, f := range rs.followers(first) {
		if st := f.ask("status"); !strings.Contains(st, first.name+" leads") || !strings.Contains(st, "this replica ("+f.name+") follows") {
			t.Errorf("`status` at the follower %s reads:\n%s\nwant it to name %s as the leader", f.name, st, first.name)
		}
	}
	f := rs.followers(first)[0]

	// The leader dies while the slow action runs: the action is unknown, never re-run.
	slowCard, slow := alertProposal(t, rs, f, "FailoverSlow", "db-1")
	approveOn(t, f, slow)
	rs.wait("the slow action to start", func() bool { return len(rs.runningSlow()) == 1 })
	killed := time.Now()
	first.crash()
	second := rs.waitLeader("another replica to lead after the leader's SIGKILL", first)
	measure(t, "leader SIGKILLed → another leads", killed, time.Now())
	if st := rs.waitState(slow.ID, "unknown"); !strings.Contains(st, "will not be re-run") {
		t.Errorf("the card shows %s as %q; want unknown, saying it will not be re-run", slow.ID, st)
	}
	th := rs.waitThread("the slow card's thread to say the action is unknown", func(th thread) bool {
		return th.Num == slowCard.Num && strings.HasPrefix(th.Text, slow.ID+" unknown")
	})
	if !strings.Contains(th.Text, "resolve "+slow.ID) {
		t.Errorf("the thread reply reads %q; want it to say how to resolve %s", th.Text, slow.ID)
	}

	// The next approval runs on the new leader.
	webCard, web := alertProposal(t, rs, second, "FailoverLoad", "web-0")
	approveOn(t, rs.followers(second)[0], web)
	rs.waitState(web.ID, "succeeded")

	// The new leader dies while approvals wait for a leader: each runs once on the next.
	var queued []proposal
	var incidents = []string{slowCard.Incident, webCard.Incident}
	for _, inst := range []string{"web-1", "web-2", "web-3"} {
		c, p := alertProposal(t, rs, second, "FailoverLoad", inst)
		queued = append(queued, p)
		incidents = append(incidents, c.Incident)
	}
	var third *replica // neither of the killed leaders: surely running
	for _, r := range rs.followers(second) {
		if r != first {
			third = r
		}
	}
	killed = time.Now()
	second.crash()
	for _, p := range queued {
		approveOn(t, third, p)
	}
	next := rs.waitLeader("a third term after the second SIGKILL", second)
	measure(t, "leader SIGKILLed with approvals queued → another leads", killed, time.Now())
	for _, p := range queued {
		rs.waitState(p.ID, "succeeded")
	}
	ran := rs.lines(rs.ran)
	for _, inst := range []string{"web-0", "web-1", "web-2", "web-3"} {
		if n := count(ran, inst+" scale-out"); n != 1 {
			t.Errorf("record.sh ran %d times for %s; want exactly once: %q", n, inst, ran)
		}
	}
	if len(ran) != 4 {
		t.Errorf("record.sh ran %d times; want 4: %q", len(ran), ran)
	}
	slowRuns := 0
	for _, l := range rs.lines(rs.slowRan) {
		if strings.HasPrefix(l, "start db-1 ") {
			slowRuns++
		}
	}
	if slowRuns != 1 {
		t.Errorf("slow.sh started %d times for db-1 across three terms; want once: %q", slowRuns, rs.lines(rs.slowRan))
	}
	if st := rs.cardState(slow.ID); !strings.HasPrefix(st, "unknown") {
		t.Errorf("after the second failover the card shows %s as %q; want it still unknown", slow.ID, st)
	}

	hist := historyOf(next, slow.ID, "proposal.recovered")
	if n := countKinds(hist, "action.started"); n != 1 {
		t.Errorf("`history %s` has %d action.started records; want 1:\n%s", slow.ID, n, hist)
	}
	if countKinds(hist, "action.succeeded")+countKinds(hist, "action.failed") != 0 {
		t.Errorf("`history %s` has an outcome the dead leader could not have written:\n%s", slow.ID, hist)
	}
	for _, p := range queued {
		wantAudit(t, next.bot, p.ID)
	}
	wantOnePostedCard(t, rs, incidents...)
	wantAuditIntact(t, next)
}

// hostPort is the host:port of a URL.
func hostPort(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	must(t, err)
	return u.Host
}

// replicasPartitionedLeader cuts the leader off from etcd through TCP proxies the test controls,
// while its action runs: its lease expires, another replica leads and makes the action unknown;
// the action finishes on the cut-off host, whose write of the outcome is held in the network and
// delivered to etcd when the partition heals, where the fence refuses it. The action ran once,
// the proposal stays unknown, the audit is one intact chain, and the cut-off replica comes back
// as a follower.
func replicasPartitionedLeader(t *testing.T, e *env) {
	// Every replica reaches every member through a proxy of its own.
	proxies := make([][]*testenv.Proxy, 3)
	// The action takes a second: it ends, and the leader writes its outcome, while the connection
	// the leader had to etcd still stands, so the write is held in the network and not refused
	// at once by a broken connection.
	rs := startReplicas(t, replicaSpec{n: 3, prefix: "/scenarios/partition/", rules: failoverRules(1),
		endpoints: func(i int) []string {
			var eps []string
			for _, ep := range e.etcd.Endpoints() {
				p := testenv.StartProxy(t, hostPort(t, ep))
				proxies[i] = append(proxies[i], p)
				eps = append(eps, "http://"+p.Addr)
			}
			return eps
		}})
	lead := rs.waitLeader("one leader", nil)
	li := 0
	for i, r := range rs.replicas {
		if r == lead {
			li = i
		}
	}
	f := rs.followers(lead)[0]
	c, p := alertProposal(t, rs, f, "FailoverSlow", "db-2")
	approveOn(t, f, p)
	rs.wait("the slow action to start", func() bool { return len(rs.runningSlow()) == 1 })
	cut := time.Now()
	for _, px := range proxies[li] {
		px.Partition()
	}
	next := rs.waitLeader("another replica to lead while the leader is cut off", lead)
	measure(t, "leader cut off from etcd → another leads", cut, time.Now())
	if st := rs.waitState(p.ID, "unknown"); !strings.Contains(st, "will not be re-run") {
		t.Errorf("the card shows %s as %q; want unknown", p.ID, st)
	}
	// The action goes on to its end on the cut-off host, which then writes its outcome.
	rs.wait("the slow action to end on the cut-off host", func() bool { return count(rs.lines(rs.slowRan), "end db-2") == 1 })
	rs.wait("the cut-off replica to stop leading", func() bool {
		return strings.Contains(tailFile(lead.logPath, 400), "leadership lost") || len(lead.exitList()) > 0
	})
	for _, px := range proxies[li] {
		px.Heal()
	}
	var late int64
	for _, px := range proxies[li] {
		late += px.LateBytes()
	}
	if late == 0 {
		t.Errorf("nothing the cut-off leader sent during the partition reached etcd after the heal; want its late writes delivered (and refused)")
	}
	t.Logf("the cut-off replica's traffic delivered after the heal: %d bytes", late)
	rs.wait("the cut-off replica to come back as a follower of "+next.name, func() bool {
		code, body := lead.readyz()
		return code == 200 && strings.Contains(body, "leader: "+next.name+" leads")
	})
	measure(t, "leader cut off from etcd → back as a follower after the heal", cut, time.Now())

	// The outcome written late never landed: the proposal is unknown, once started, never done.
	if st := rs.cardState(p.ID); !strings.HasPrefix(st, "unknown") {
		t.Errorf("after the heal the card shows %s as %q; want it still unknown", p.ID, st)
	}
	hist := historyOf(next, p.ID, "proposal.recovered")
	if n := countKinds(hist, "action.started"); n != 1 {
		t.Errorf("`history %s` has %d action.started records; want 1:\n%s", p.ID, n, hist)
	}
	if n := countKinds(hist, "action.succeeded"); n != 0 {
		t.Errorf("`history %s` has the cut-off leader's late outcome:\n%s", p.ID, hist)
	}
	if lines := rs.lines(rs.slowRan); len(lines) != 2 {
		t.Errorf("slow.sh wrote %q; want one start and one end", lines)
	}
	wantOnePostedCard(t, rs, c.Incident)
	wantAuditIntact(t, next)
}

// etcdMemberLossAndQuorum runs three replicas on a three-member etcd cluster of their own: with
// one member killed, alerts still become cards and approvals still run; with a second killed,
// quorum is lost: every replica reports the store unreachable and nothing runs; when the
// members come back, a replica leads again by itself and the approval refused meanwhile runs.
func etcdMemberLossAndQuorum(t *testing.T, e *env) {
	cluster := testenv.StartEtcdCluster(t, 3, testenv.EtcdOptions{})
	rs := startReplicas(t, replicaSpec{n: 3, prefix: "/scenarios/quorum/", rules: failoverRules(4),
		endpoints: func(int) []string { return cluster.Endpoints() }})
	lead := rs.waitLeader("one leader", nil)
	ca, pa := alertProposal(t, rs, rs.followers(lead)[0], "FailoverLoad", "web-a")

	// One member down of three: the bot goes on. (When the member was etcd's leader, the
	// cluster elects another, which may take longer than the bot's leader may go without
	// renewing its lease: then another replica leads, as after any failover.)
	cluster.Members[0].Kill()
	lead = rs.waitLeader("a leader with one etcd member down", nil)
	f := rs.followers(lead)[0]
	cb, pb := alertProposal(t, rs, f, "FailoverLoad", "web-b")
	approveOn(t, f, pa)
	rs.waitState(pa.ID, "succeeded")
	incs := f.ask("incidents")
	for _, id := range []string{ca.Incident, cb.Incident} {
		if !strings.Contains(incs, id) {
			t.Errorf("`incidents` with one etcd member down does not list %s:\n%s", id, incs)
		}
	}

	// Two down: no quorum. Every replica says it is not ready, naming the store, and nothing runs.
	cluster.Members[1].Kill()
	lost := time.Now()
	var up *replica // a replica that answers: a follower stays up, a leader that lost its term restarts
	rs.wait("every replica to report that it is not ready", func() bool {
		up = nil
		for _, r := range rs.replicas {
			code, body := r.readyzWithin(15 * time.Second)
			if code == 200 {
				return false
			}
			if code != 0 {
				if !strings.Contains(body, "store") {
					t.Errorf("%s's /readyz without quorum says %d %q; want it to name the store", r.name, code, body)
				}
				up = r
			}
		}
		return up != nil
	})
	measure(t, "quorum lost → every replica not ready", lost, time.Now())
	st := up.ask("status")
	t.Logf("status without quorum: %s", st)
	reply := up.ask("approve " + pb.ID)
	t.Logf("approve without quorum: %s", reply)
	if strings.Contains(reply, "internal error") || strings.Contains(reply, "remediation is paused") ||
		!strings.Contains(reply, "the store did not answer") || !strings.Contains(reply, "etcd") {
		t.Errorf("`approve` without quorum replies %q; want it to say the store (etcd) did not answer", reply)
	}
	if ran := rs.lines(rs.ran); len(ran) != 1 {
		t.Errorf("without quorum record.sh ran: %q; want only web-a's run from before", ran)
	}

	// The members come back: a replica leads again by itself, and the approval goes through.
	back := time.Now()
	cluster.Members[0].Restart()
	cluster.Members[1].Restart()
	cluster.Members[0].WaitHealthy()
	cluster.Members[1].WaitHealthy()
	now := rs.waitLeader("a leader once quorum is back", nil)
	measure(t, "quorum back → a replica leads", back, time.Now())
	if st := rs.cardState(pb.ID); st != "pending" && !strings.HasPrefix(st, "approved") && !strings.HasPrefix(st, "succeeded") {
		t.Errorf("after quorum came back the card shows %s as %q", pb.ID, st)
	}
	if strings.HasPrefix(rs.cardState(pb.ID), "pending") {
		approveOn(t, rs.followers(now)[0], pb)
	}
	rs.waitState(pb.ID, "succeeded")
	ran := rs.lines(rs.ran)
	if count(ran, "web-a scale-out") != 1 || count(ran, "web-b scale-out") != 1 || len(ran) != 2 {
		t.Errorf("record.sh ran %q; want web-a and web-b once each", ran)
	}
	wantOnePostedCard(t, rs, ca.Incident, cb.Incident)
	wantAuditIntact(t, now)
}
