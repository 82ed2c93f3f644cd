package console

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smartcloudops/smartcloudops/bot"
	"github.com/smartcloudops/smartcloudops/incident"
	"github.com/smartcloudops/smartcloudops/internal/store"
	"github.com/smartcloudops/smartcloudops/remediation"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != got {
		t.Errorf("%s differs from %s (run with -update after an intended change):\n--- got\n%s--- want\n%s", name, path, got, want)
	}
}

var t0 = time.Date(2026, 11, 25, 14, 15, 0, 0, time.UTC)

func sampleIncident() incident.Incident {
	return incident.Incident{ID: "inc-3f2a1b", Source: incident.SourceDetector, Title: "demo-cpu above the expected band on asg=web-asg",
		Severity: "critical", State: incident.StateOpen, Labels: map[string]string{"asg": "web-asg", "service": "web"}, Check: "demo-cpu",
		Unit: "%", Value: 92.4, Score: 0.91, Peak: 0.97, PeakValue: 95.1, Expected: 35.2, Lower: 28.9, Upper: 41.5, Models: []string{"level", "robust"},
		Since: t0, OpenedAt: t0, LastSeen: t0.Add(3 * time.Minute), ChartPath: "/data/charts/inc-3f2a1b.png"}
}

func sampleProposal(state remediation.State) remediation.Proposal {
	p := remediation.Proposal{ID: "p-7f3a2c", State: state,
		Plan:   remediation.Plan{Action: "script", Description: "script scale_up.sh web-asg 2 3", Rule: "demo-cpu-spike", RuleVersion: "0c1d2e3f4a5b"},
		Policy: remediation.Policy{Roles: []string{"operator"}, MinApprovers: 1}, ExpiresAt: t0.Add(30 * time.Minute)}
	who := remediation.Actor{ID: "console:alice", Name: "console:alice"}
	switch state {
	case remediation.StateSucceeded:
		p.DecidedBy, p.DecidedAt, p.FinishedAt, p.Result = &who, t0.Add(time.Minute), t0.Add(time.Minute+time.Second), "script scale_up.sh exited 0"
	case remediation.StateRejected:
		p.DecidedBy, p.DecidedAt, p.Reason = &who, t0.Add(time.Minute), "not during the sale"
	}
	return p
}

// TestCardsGolden pins what a person reads in the terminal for each stage of an incident.
func TestCardsGolden(t *testing.T) {
	inc := sampleIncident()
	golden(t, "card-open", Render(bot.IncidentCard(inc, nil)))
	golden(t, "card-proposal", Render(bot.IncidentCard(inc, []remediation.Proposal{sampleProposal(remediation.StatePending)})))
	golden(t, "card-succeeded", Render(bot.IncidentCard(inc, []remediation.Proposal{sampleProposal(remediation.StateSucceeded)})))
	res := inc
	res.State, res.ResolvedAt = incident.StateResolved, t0.Add(20*time.Minute)
	golden(t, "card-resolved", Render(bot.IncidentCard(res, []remediation.Proposal{sampleProposal(remediation.StateRejected)})))
	res.Resolution = incident.ResolutionStale
	golden(t, "card-resolved-stale", Render(bot.IncidentCard(res, nil)))
	am := incident.Incident{ID: "inc-aa11bb", Source: incident.SourceAlertmanager, Title: "HostHighCpu: 1 of 2 firing", Severity: "warning",
		State: incident.StateOpen, Labels: map[string]string{"alertname": "HostHighCpu"}, Since: t0,
		Annotations: map[string]string{"summary": "CPU above 90% for 3 minutes"},
		Alerts:      []incident.Alert{{Fingerprint: "a", Status: "firing"}, {Fingerprint: "b", Status: "resolved"}}}
	golden(t, "card-alertmanager", Render(bot.IncidentCard(am, nil)))

	// The value is back inside the band it left: the card says so and never "above".
	back := inc
	back.Value, back.Score = 38.0, 0.31
	golden(t, "card-back-inside", Render(bot.IncidentCard(back, nil)))
	// A percentage near its ceiling: the model's band reaches past 100 %, the card shows 100 %.
	ceil := inc
	ceil.Title, ceil.Value, ceil.PeakValue, ceil.Expected, ceil.Lower, ceil.Upper = "demo-cpu below the expected band on asg=web-asg", 71.5, 63.0, 97.8, 91.2, 104.4
	golden(t, "card-clipped-band", Render(bot.IncidentCard(ceil, nil)))
}

// sampleGroup is a storm of one check: twelve series, eleven with the same pending plan.
func sampleGroup() bot.Group {
	var items []bot.CardItem
	for i := range 12 {
		inc := sampleIncident()
		inc.ID = fmt.Sprintf("inc-%02d", i)
		inc.Labels = map[string]string{"asg": "web-asg", "host": fmt.Sprintf("web-%02d", i)}
		inc.Title = "demo-cpu above the expected band on host=web-" + fmt.Sprintf("%02d", i)
		inc.Value, inc.PeakValue, inc.Peak = 80+float64(i), 85+float64(i), 0.80+float64(i)/100
		inc.ChartPath = "/data/charts/" + inc.ID + ".png"
		if i == 3 {
			inc.State, inc.ResolvedAt, inc.Value = incident.StateResolved, t0.Add(5*time.Minute), 36
		}
		it := bot.CardItem{Incident: inc}
		if i > 0 {
			p := sampleProposal(remediation.StatePending)
			p.ID, p.PlanHash, p.Incident = fmt.Sprintf("p-%02d", i), "9c1e2f3a4b5c6d7e", inc.ID
			it.Proposals = []remediation.Proposal{p}
		}
		items = append(items, it)
	}
	return bot.Group{ID: "g-0a1b2c3d4e5f", Key: []bot.Field{{Label: "check", Value: "demo-cpu"}, {Label: "rule", Value: "demo-cpu-spike"}}, Items: items}
}

// TestGroupCardGolden pins a grouped card: count, summary, the Approve-all offer and the worst
// members in full.
func TestGroupCardGolden(t *testing.T) {
	g := sampleGroup()
	golden(t, "card-group", Render(bot.GroupCard(g)))
	for i := range g.Items {
		g.Items[i].Incident.State = incident.StateResolved
		for j := range g.Items[i].Proposals {
			g.Items[i].Proposals[j].State = remediation.StateExpired
		}
	}
	golden(t, "card-group-resolved", Render(bot.GroupCard(g)))
}

// TestUpdatesPrintOnlyWhatChanged: an edit prints one line under the card's number with what
// changed — nothing at all when nothing did — and an approval's three steps print three short
// lines, never the whole card again.
func TestUpdatesPrintOnlyWhatChanged(t *testing.T) {
	out := &lines{}
	a, err := New(Options{In: strings.NewReader(""), Out: out})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	inc := sampleIncident()
	ref, err := a.Post(ctx, "console", bot.IncidentCard(inc, nil))
	if err != nil {
		t.Fatal(err)
	}
	steps := []bot.Message{bot.IncidentCard(inc, nil)} // nothing changed: nothing printed
	inc.Value, inc.Score, inc.PeakValue, inc.Peak = 97.1, 0.99, 97.1, 0.99
	steps = append(steps, bot.IncidentCard(inc, nil))
	p := sampleProposal(remediation.StatePending)
	steps = append(steps, bot.IncidentCard(inc, []remediation.Proposal{p}))
	who := remediation.Actor{ID: "console:alice", Name: "console:alice"}
	p.State, p.DecidedBy, p.DecidedAt, p.Approvals = remediation.StateApproved, &who, t0.Add(time.Minute), []remediation.Approval{{Actor: who}}
	steps = append(steps, bot.IncidentCard(inc, []remediation.Proposal{p}))
	p.State, p.StartedAt = remediation.StateRunning, t0.Add(time.Minute)
	steps = append(steps, bot.IncidentCard(inc, []remediation.Proposal{p}))
	p.State, p.FinishedAt, p.Result = remediation.StateSucceeded, t0.Add(time.Minute+time.Second), "script scale_up.sh exited 0"
	steps = append(steps, bot.IncidentCard(inc, []remediation.Proposal{p}))
	inc.State, inc.ResolvedAt, inc.Value = incident.StateResolved, t0.Add(20*time.Minute), 36.5
	steps = append(steps, bot.IncidentCard(inc, []remediation.Proposal{p}))
	for _, m := range steps {
		if err := a.Update(ctx, ref, m); err != nil {
			t.Fatal(err)
		}
	}
	golden(t, "updates", out.String())
	if n := strings.Count(out.String(), "where: "); n != 1 {
		t.Errorf("the card was printed whole %d times, want once", n)
	}
}

// TestCardNumbersGoOnAfterRestart: with a store, a new process numbers its cards after the last
// one of the previous process.
func TestCardNumbersGoOnAfterRestart(t *testing.T) {
	st := store.NewMemory()
	ctx := context.Background()
	var got []string
	for range 2 { // two processes sharing the store
		a, err := New(Options{In: strings.NewReader(""), Out: &lines{}, Store: st})
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			ref, err := a.Post(ctx, "console", bot.Text("card"))
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, ref.ID)
		}
	}
	if strings.Join(got, ",") != "1,2,3,4" {
		t.Fatalf("card numbers %v, want 1,2,3,4", got)
	}
	if _, err := st.Put(ctx, seqKey, []byte("garbage")); err != nil {
		t.Fatal(err)
	}
	a, _ := New(Options{In: strings.NewReader(""), Out: &lines{}, Store: st})
	if _, err := a.Post(ctx, "console", bot.Text("card")); err == nil || !strings.Contains(err.Error(), "card counter") {
		t.Fatalf("a corrupt counter gave %v, want an error naming it", err)
	}
}

type lines struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestRunReadsLines feeds commands through a pipe: each line is one event from the console user,
// blank lines and comments are skipped, and the adapter stays up after the input ends.
func TestRunReadsLines(t *testing.T) {
	out := &lines{}
	a, err := New(Options{In: strings.NewReader("help\n\n# a comment\nstatus now\n"), Out: out, User: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	var mu sync.Mutex
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		done <- a.Run(ctx, func(_ context.Context, e bot.Event) bot.Message {
			mu.Lock()
			got = append(got, e.User.String()+" "+e.Text)
			mu.Unlock()
			return bot.Text("ok " + e.Text)
		})
	}()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), "ok status now") && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(got, "|") != "console:alice help|console:alice status now" {
		t.Fatalf("events: %q", got)
	}
	ref, _ := a.Post(context.Background(), "console", bot.Text("card"))
	a.PostThread(context.Background(), ref, bot.Text("line one\nline two"))
	if !strings.Contains(out.String(), "=== card #1 ===\ncard\n") || !strings.Contains(out.String(), "  ↳ card #1: line one\n    line two\n") {
		t.Fatalf("output:\n%s", out.String())
	}
}

// TestLongLineIsRefusedAndInputGoesOn: a runaway paste is refused with a message, and the
// commands after it are still read, including a last line without a newline.
func TestLongLineIsRefusedAndInputGoesOn(t *testing.T) {
	in := strings.Repeat("x", 70*1024) + "\nhelp\n" + strings.Repeat("y", 70*1024) + "\nstatus"
	out := &lines{}
	a, err := New(Options{In: strings.NewReader(in), Out: out})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 4)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		done <- a.Run(ctx, func(_ context.Context, e bot.Event) bot.Message {
			got <- e.Text
			return bot.Message{}
		})
	}()
	for _, want := range []string{"help", "status"} {
		if cmd := <-got; cmd != want {
			t.Fatalf("command %.20q, want %q", cmd, want)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out.String(), "longer than 64 KiB and was ignored"); n != 2 {
		t.Errorf("%d refusals printed, want 2:\n%.300s", n, out.String())
	}
}
