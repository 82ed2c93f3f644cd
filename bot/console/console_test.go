package console

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smartcloudops/smartcloudops/bot"
	"github.com/smartcloudops/smartcloudops/incident"
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
		Unit: "%", Value: 92.4, Score: 0.97, Expected: 35.2, Lower: 28.9, Upper: 41.5, Models: []string{"level", "robust"},
		Since: t0, OpenedAt: t0, ChartPath: "/data/charts/inc-3f2a1b.png"}
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
