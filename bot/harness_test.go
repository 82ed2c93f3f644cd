package bot

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/smartcloudops/smartcloudops/incident"
	"github.com/smartcloudops/smartcloudops/internal/store"
	"github.com/smartcloudops/smartcloudops/remediation"
	"github.com/smartcloudops/smartcloudops/remediation/audit"
)

// harness is a notifier wired to an incident manager and a proposal manager on one store, as
// internal/app wires them, posting to a recorder.
type harness struct {
	st  store.Store
	n   *Notifier
	rec *recorder
	inc *incident.Manager
	mg  *remediation.Manager
	o   NotifierOptions
}

// scaleAction is an action whose plan names only its group, so proposals for many series of
// one group have identical plans.
type scaleAction struct{}

func (scaleAction) Name() string { return "scale" }
func (scaleAction) Schema() remediation.Schema {
	return remediation.Schema{{Name: "group", Type: remediation.TypeString, Required: true}}
}
func (scaleAction) Target(p remediation.Params) string { return "asg/" + p.String("group") }
func (scaleAction) Describe(_ context.Context, p remediation.Params) (string, error) {
	return "scale " + p.String("group") + " out by one", nil
}
func (scaleAction) Execute(_ context.Context, p remediation.Params) (remediation.Result, error) {
	return remediation.Result{Summary: "scaled " + p.String("group")}, nil
}

// newHarness builds a harness; edit, when set, adjusts the notifier's options first. The
// recorder routes critical team=web cards to C-web and the rest to C-ops.
func newHarness(t testing.TB, edit func(*NotifierOptions)) *harness {
	t.Helper()
	return newHarnessOn(t, store.NewMemory(), edit)
}

// newHarnessOn is newHarness on store st.
func newHarnessOn(t testing.TB, st store.Store, edit func(*NotifierOptions)) *harness {
	t.Helper()
	h := &harness{st: st, rec: &recorder{}}
	h.build(t, edit)
	return h
}

// build (re)builds the managers and the notifier on h's store, as a restart does.
func (h *harness) build(t testing.TB, edit func(*NotifierOptions)) {
	t.Helper()
	al, err := audit.New(audit.Options{Store: h.st})
	if err != nil {
		t.Fatal(err)
	}
	var n *Notifier
	h.inc, err = incident.New(incident.Options{Store: h.st, OnChange: func(ctx context.Context, i incident.Incident, c incident.Change) { n.IncidentChanged(ctx, i, c) }})
	if err != nil {
		t.Fatal(err)
	}
	h.mg, err = remediation.New(remediation.Options{Store: h.st, Audit: al,
		Actions:  func(name string) (remediation.Action, bool) { return scaleAction{}, name == "scale" },
		OnChange: func(ctx context.Context, p remediation.Proposal) { n.ProposalChanged(ctx, p) }})
	if err != nil {
		t.Fatal(err)
	}
	h.o = NotifierOptions{Store: h.st, Incidents: h.inc, Proposals: h.mg,
		Targets: []Target{{Adapter: h.rec, DefaultChannel: "C-ops", Routes: []Route{{Severity: "critical", Labels: map[string]string{"team": "web"}, Channel: "C-web"}}}}}
	if edit != nil {
		edit(&h.o)
	}
	n, err = NewNotifier(h.o)
	if err != nil {
		t.Fatal(err)
	}
	h.n = n
}

// propose makes the proposal a rule would make for incident id: scale its group out.
func (h *harness) propose(t testing.TB, id, group string) remediation.Proposal {
	t.Helper()
	p, err := h.mg.Propose(context.Background(), remediation.Request{Action: "scale", Params: map[string]any{"group": group},
		Rule: "scale-out", RuleVersion: "v1", Incident: id, Requester: remediation.Actor{ID: "rule:scale-out", Name: "rule scale-out"},
		Policy: remediation.Policy{Roles: []string{"operator"}, MinApprovers: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.inc.Update(context.Background(), id, func(i *incident.Incident) { i.Proposals = append(i.Proposals, p.ID) }); err != nil {
		t.Fatal(err)
	}
	return p
}

// calls returns the recorder's calls so far and forgets them.
func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.calls
	r.calls = nil
	return out
}

// count counts the calls that start with prefix.
func count(calls []string, prefix string) int {
	n := 0
	for _, c := range calls {
		if strings.HasPrefix(c, prefix) {
			n++
		}
	}
	return n
}

// lastMessage is the latest card the recorder posted or edited.
func (r *recorder) lastMessage() Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}

// images records the chart bytes each post or edit carried.
type imaging struct {
	recorder
	mu     sync.Mutex
	images []string // "post <n bytes>" / "edit <n bytes>" / "thread <n bytes>"
}

func (a *imaging) note(op string, m Message) {
	n := 0
	if m.Image != nil {
		n = len(m.Image.PNG)
	}
	a.mu.Lock()
	a.images = append(a.images, fmt.Sprintf("%s %d", op, n))
	a.mu.Unlock()
}

func (a *imaging) Post(ctx context.Context, ch string, m Message) (Ref, error) {
	a.note("post", m)
	return a.recorder.Post(ctx, ch, m)
}

func (a *imaging) Update(ctx context.Context, ref Ref, m Message) error {
	a.note("edit", m)
	return a.recorder.Update(ctx, ref, m)
}

func (a *imaging) PostThread(ctx context.Context, ref Ref, m Message) (Ref, error) {
	a.note("thread", m)
	return a.recorder.PostThread(ctx, ref, m)
}

func (a *imaging) seen() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.images)
}
