package commands

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/smartcloudops/smartcloudops/bot"
	"github.com/smartcloudops/smartcloudops/incident"
	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/internal/store"
	"github.com/smartcloudops/smartcloudops/remediation"
	"github.com/smartcloudops/smartcloudops/remediation/audit"
)

// lostAnswer is an action whose request gets no clear answer: its outcome is unknown.
type lostAnswer struct{ echoAction }

func (lostAnswer) Name() string { return "lost" }
func (lostAnswer) Execute(context.Context, remediation.Params) (remediation.Result, error) {
	return remediation.Result{}, fmt.Errorf("%w: HTTP 500 after the request was sent", remediation.ErrOutcomeUnknown)
}

// TestResolveTranscript is what people see when an action's outcome is unknown: the approval's
// answer, `status` counting it, a refused reject and resolve, and the resolution.
func TestResolveTranscript(t *testing.T) {
	st := store.NewMemory()
	al, _ := audit.New(audit.Options{Store: st})
	inc, _ := incident.New(incident.Options{Store: st})
	mg, _ := remediation.New(remediation.Options{Store: st, Audit: al,
		Actions: func(n string) (remediation.Action, bool) { return lostAnswer{}, n == "lost" }})
	roles := map[string][]string{"alice": {"operator"}, "olga": {"operator"}}
	r, err := New(Options{Incidents: inc, Proposals: mg, Audit: al, Logger: obs.Discard(), Version: "test",
		Roles: func(u bot.User) []string { return roles[u.ID] }})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	var id string
	run := func(user, line string) {
		line = strings.ReplaceAll(line, "ID", id)
		m := say(r, user, line)
		fmt.Fprintf(&b, "> %s: %s\n", user, line)
		if m.Title != "" {
			fmt.Fprintf(&b, "[%s]\n", m.Title)
		}
		if m.Text != "" {
			b.WriteString(m.Text + "\n")
		}
		for _, f := range m.Fields {
			fmt.Fprintf(&b, "%s: %s\n", f.Label, f.Value)
		}
		b.WriteString("\n")
		if id == "" {
			id = regexp.MustCompile(`p-[0-9a-f]{8}`).FindString(m.Text)
		}
	}
	run("alice", "run lost msg=hi")
	run("olga", "approve ID")
	run("bob", "status")
	run("olga", "reject ID wrong")
	run("bob", "resolve ID ran checked")
	run("olga", "resolve ID maybe checked")
	run("olga", "resolve ID not-run")
	run("olga", `resolve ID not-run "the service still runs deployment ecs-svc/4"`)
	run("bob", "status")
	run("olga", "resolve ID ran again")

	got := regexp.MustCompile(`p-[0-9a-f]{8}`).ReplaceAllString(b.String(), "p-XXXXXX")
	golden := filepath.Join("testdata", "resolve.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("transcript differs from %s (run with -update to accept):\n%s", golden, got)
	}
	recs, _ := al.List(context.Background(), audit.Filter{Proposal: id})
	var kinds []string
	for _, rec := range recs {
		kinds = append(kinds, rec.Kind)
	}
	if k := strings.Join(kinds, " "); !strings.Contains(k, "action.unknown") || !strings.HasSuffix(k, "proposal.resolved proposal.resolve_refused") {
		t.Errorf("audit: %s", k)
	}
}
