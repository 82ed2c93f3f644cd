//go:build scenarios

package scenarios

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

// recordAction is a rule's action: record.sh with the series' story and a word, so the file it
// writes says which rule ran it.
func recordAction(word string) string {
	return fmt.Sprintf(`        action:
          name: script
          params: {script: record.sh, args: ['{{ .labels.story }}', '%s']}
        approval: {roles: [operator]}
`, word)
}

// waitSeen waits until Prometheus has scraped the story's series in its current shape, and
// returns when it first did: the moment the bot could first see the change, which the
// latencies start from.
func waitSeen(t *testing.T, e *env, story string) time.Time {
	t.Helper()
	deadline := time.Now().Add(patience)
	for {
		if at := e.exp.seen(story); !at.IsZero() {
			return at
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus did not scrape the series of %s within %s", story, patience)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// holdFor is the `for:` of the stories' rules, scaled down from minutes for 1 s scrapes.
const holdFor = 30 * time.Second

// timeSlack allows for the scrape that saw a change and the evaluation that saw it not being
// the same instant. It only ever loosens a lower bound: a slow machine makes outcomes later.
const timeSlack = time.Second

// approveAndRun approves the proposal at the console and waits until the card shows it
// succeeded and its output is in the card's thread. It returns the updated card.
func approveAndRun(t *testing.T, b *bot, p proposal) card {
	t.Helper()
	reply := b.ask("approve " + p.ID)
	if strings.Contains(reply, "internal error") || !strings.Contains(reply, p.ID) {
		t.Errorf("the reply to `approve %s` is %q; want it to name the proposal and what became of it", p.ID, reply)
	}
	done := b.waitCard("the card to show "+p.ID+" succeeded", func(c card) bool {
		q, ok := c.proposal(p.ID)
		return ok && strings.HasPrefix(q.State, "succeeded")
	})
	q, _ := done.proposal(p.ID)
	if !strings.Contains(q.State, "approved by console:"+user) {
		t.Errorf("the state of %s is %q; want it to say it was approved by console:%s", p.ID, q.State, user)
	}
	b.waitThread("the run's output in the card's thread", func(th thread) bool {
		return th.Num == done.Num && strings.HasPrefix(th.Text, p.ID+" succeeded")
	})
	return done
}

// wantAudit checks that `history <proposal>` shows the proposal's whole trail.
func wantAudit(t *testing.T, b *bot, id string) {
	t.Helper()
	hist := b.eventually("history "+id, "the audit trail of "+id+" to end with the execution", func(r string) bool {
		return strings.Contains(r, "action.succeeded")
	})
	for _, kind := range []string{"proposal.created", "proposal.approved", "action.started", "action.succeeded"} {
		if !regexp.MustCompile(`(?m)^#\d+ .* ` + regexp.QuoteMeta(kind) + `\b.*` + regexp.QuoteMeta(id)).MatchString(hist) {
			t.Errorf("`history %s` has no %s record of it:\n%s", id, kind, hist)
		}
	}
}

// queryRule is the seed's rule as a query rule: the load crosses 90 and stays; after `for:` the
// rule proposes the script once; approving it runs the script once; the audit has it all.
func queryRule(t *testing.T, e *env) {
	const story = "query-rule"
	e.exp.set(story, baseline)
	b := startBot(t, botSpec{Prometheus: e.prom, Rules: fmt.Sprintf(`groups:
  - name: query-rule
    interval: 1s
    rules:
      - name: query-rule-high
        description: Scale out when the load stays above 90%% for 30 seconds.
        query: '%s'
        when: value > 90
        for: 30s
        severity: critical
`, selector(story)) + recordAction("scale-out")})
	waitSeen(t, e, story)
	b.waitEvaluations("query-rule", 3)

	e.exp.set(story, load)
	c := b.waitCard("a card with the proposal of rule query-rule-high", func(c card) bool {
		return len(c.Props) > 0 && strings.HasPrefix(c.Props[0].Rule, "query-rule-high ")
	})
	crossed := waitSeen(t, e, story)
	measure(t, "load crossed 90 → proposal", crossed, c.At)
	if c.At.Sub(crossed) < holdFor-timeSlack {
		t.Errorf("the proposal came %s after the load crossed 90; the rule holds for %s first", c.At.Sub(crossed), holdFor)
	}
	p := c.Props[0]
	if p.State != "pending" || p.What != "script record.sh query-rule scale-out" {
		t.Errorf("the proposal reads %q, state %q; want script record.sh query-rule scale-out, pending", p.What, p.State)
	}

	approveAndRun(t, b, p)
	if ran := b.ranLines(); len(ran) != 1 || ran[0] != "query-rule scale-out" {
		t.Errorf("the script ran %d times with %q; want once with \"query-rule scale-out\"", len(ran), ran)
	}
	wantAudit(t, b, p.ID)

	// The load goes on: the rule keeps holding, and one episode makes one proposal.
	b.waitEvaluations("query-rule", 20)
	proposals := b.ask("proposals all")
	if n := strings.Count(proposals, "(rule query-rule-high "); n != 1 {
		t.Errorf("`proposals all` lists %d proposals of query-rule-high while one load went on; want 1:\n%s", n, proposals)
	}
	if ids := proposalIDs(b.cards()); len(ids) != 1 {
		t.Errorf("the cards show proposals %v; want exactly one", ids)
	}
	if ran := b.ranLines(); len(ran) != 1 {
		t.Errorf("the script ran %d times; want once", len(ran))
	}

	b.stop()
	if out := b.auditVerify(); !strings.Contains(out, "audit log intact") {
		t.Errorf("audit verify says %q", out)
	}
}

// proposalIDs lists the distinct proposals the cards show.
func proposalIDs(cards []card) []string {
	seen := map[string]bool{}
	var ids []string
	for _, c := range cards {
		for _, p := range c.Props {
			if !seen[p.ID] {
				seen[p.ID] = true
				ids = append(ids, p.ID)
			}
		}
	}
	return ids
}

// waitEvaluations waits until the rule group has been evaluated n more times than now.
func (b *bot) waitEvaluations(group string, n float64) {
	b.t.Helper()
	b.waitCounter(fmt.Sprintf(`smartcloudops_rule_evaluations_total{rule_group=%q}`, group), n)
}
