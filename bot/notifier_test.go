package bot

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smartcloudops/smartcloudops/detector"
	"github.com/smartcloudops/smartcloudops/incident"
)

// recorder is an Adapter that records what it was asked to do.
type recorder struct {
	mu    sync.Mutex
	calls []string
	n     int
	last  Message   // the latest card posted or edited
	msgs  []Message // every card posted
}

func (r *recorder) Name() string                             { return "rec" }
func (r *recorder) Run(ctx context.Context, _ Handler) error { <-ctx.Done(); return nil }
func (r *recorder) log(s string)                             { r.mu.Lock(); r.calls = append(r.calls, s); r.mu.Unlock() }
func (r *recorder) Post(_ context.Context, ch string, m Message) (Ref, error) {
	r.mu.Lock()
	r.n++
	id := fmt.Sprint(r.n)
	r.last = m
	r.msgs = append(r.msgs, m)
	r.mu.Unlock()
	r.log("post " + ch + " " + m.Title)
	return Ref{Platform: "rec", Channel: ch, ID: id}, nil
}
func (r *recorder) Update(_ context.Context, ref Ref, m Message) error {
	r.mu.Lock()
	r.last = m
	r.mu.Unlock()
	r.log("update " + ref.ID + " " + m.Title)
	return nil
}
func (r *recorder) PostThread(_ context.Context, ref Ref, m Message) (Ref, error) {
	r.log("thread " + ref.ID + " " + m.Title + m.Text)
	return ref, nil
}

func setup(t *testing.T) (*Notifier, *recorder, *incident.Manager) {
	t.Helper()
	h := newHarness(t, nil)
	return h.n, h.rec, h.inc
}

func anomaly(host string, sev string, labels map[string]string) detector.Anomaly {
	l := map[string]string{"host": host}
	for k, v := range labels {
		l[k] = v
	}
	now := time.Now()
	return detector.Anomaly{Check: "cpu", Severity: sev, Labels: l, T: now, Since: now, Opened: true, Value: 99, PeakValue: 99, Peak: 0.9, Expected: 40, Upper: 50, Score: 0.9}
}

func TestCardPostedOnceThenEditedAndRouted(t *testing.T) {
	n, rec, inc := setup(t)
	ctx := context.Background()
	inc.FromAnomaly(ctx, anomaly("web-1", "critical", map[string]string{"team": "web"}))
	inc.FromAnomaly(ctx, anomaly("db-1", "warning", nil))
	n.Flush(ctx)
	a := anomaly("web-1", "critical", map[string]string{"team": "web"})
	a.Value = 120
	inc.FromAnomaly(ctx, a)
	inc.FromAnomaly(ctx, a) // a burst of updates to one card coalesces into one edit
	n.Flush(ctx)
	got := strings.Join(rec.calls, "\n")
	want := "post C-web cpu above the expected band on host=web-1, team=web\npost C-ops cpu above the expected band on host=db-1\nupdate 1 cpu above the expected band on host=web-1, team=web"
	if got != want {
		t.Fatalf("calls:\n%s\nwant:\n%s", got, want)
	}
}

// chartless posts cards but cannot attach their image, as the Slack adapter reports when the
// app lacks files:write: the card's Ref comes back with an error wrapping ErrImageUpload.
type chartless struct{ recorder }

func (c *chartless) Post(ctx context.Context, ch string, m Message) (Ref, error) {
	ref, _ := c.recorder.Post(ctx, ch, m)
	if m.Image != nil {
		return ref, fmt.Errorf("post to %s: %w: missing_scope", ch, ErrImageUpload)
	}
	return ref, nil
}

// TestCardWithoutChartIsStillEdited: a card whose chart could not be attached is still the
// incident's card, edited on the next change rather than posted again.
func TestCardWithoutChartIsStillEdited(t *testing.T) {
	n, _, inc := setup(t)
	ad := &chartless{}
	n.o.Targets = []Target{{Adapter: ad, DefaultChannel: "C-ops"}}
	ctx := context.Background()
	png := filepath.Join(t.TempDir(), "c.png")
	if err := os.WriteFile(png, []byte("\x89PNG"), 0o600); err != nil {
		t.Fatal(err)
	}
	a := anomaly("web-1", "warning", nil)
	in, _, err := inc.FromAnomaly(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := inc.Update(ctx, in.ID, func(i *incident.Incident) { i.ChartPath = png }); err != nil {
		t.Fatal(err)
	}
	n.Flush(ctx)
	a.Value = 120
	if _, _, err := inc.FromAnomaly(ctx, a); err != nil {
		t.Fatal(err)
	}
	n.Flush(ctx)
	var posts, edits int
	for _, c := range ad.calls {
		posts += btoi(strings.HasPrefix(c, "post "))
		edits += btoi(strings.HasPrefix(c, "update "))
	}
	if posts != 1 || edits != 1 {
		t.Fatalf("%d posts and %d edits, want 1 and 1: %q", posts, edits, ad.calls)
	}
}

func hasSilenceButton(m Message) bool {
	for _, s := range m.Sections {
		for _, b := range s.Buttons {
			if b.Action == ActionSilence {
				return true
			}
		}
	}
	return false
}

// TestSilencedCardShowsSilenceAndResolution: silencing an incident that has a card edits the
// card (silenced, no Silence button), and its resolution edits it again.
func TestSilencedCardShowsSilenceAndResolution(t *testing.T) {
	n, rec, inc := setup(t)
	ctx := context.Background()
	a := anomaly("web-1", "warning", nil)
	in, _, _ := inc.FromAnomaly(ctx, a)
	n.Flush(ctx)
	if !hasSilenceButton(rec.last) {
		t.Fatalf("open card without a Silence button: %+v", rec.last)
	}
	s, err := inc.SilenceIncident(ctx, in.ID, time.Hour, "alice")
	if err != nil {
		t.Fatal(err)
	}
	n.Flush(ctx)
	if hasSilenceButton(rec.last) || !strings.Contains(rec.last.Footer, "silenced ("+s.ID+")") {
		t.Fatalf("silenced card: %+v", rec.last)
	}
	a.Value = 120
	inc.FromAnomaly(ctx, a)
	n.Flush(ctx)
	inc.FromRecovery(ctx, detector.Recovery{Check: "cpu", Labels: a.Labels, T: time.Now()})
	n.Flush(ctx)
	want := "post C-ops cpu above the expected band on host=web-1\n" +
		"update 1 cpu above the expected band on host=web-1\n" +
		"update 1 Resolved: cpu above the expected band on host=web-1"
	if got := strings.Join(rec.calls, "\n"); got != want {
		t.Fatalf("calls:\n%s\nwant:\n%s", got, want)
	}
}

// TestSilencedIncidentWithoutCardGetsNone: an incident silenced before its card went out, or
// before it was ever reported, gets no card, not even for its resolution.
func TestSilencedIncidentWithoutCardGetsNone(t *testing.T) {
	n, rec, inc := setup(t)
	ctx := context.Background()
	// Reported, but silenced before the notifier ran.
	a := anomaly("web-1", "warning", nil)
	in, _, _ := inc.FromAnomaly(ctx, a)
	if _, err := inc.SilenceIncident(ctx, in.ID, time.Hour, "alice"); err != nil {
		t.Fatal(err)
	}
	n.Flush(ctx)
	inc.FromRecovery(ctx, detector.Recovery{Check: "cpu", Labels: a.Labels, T: time.Now()})
	n.Flush(ctx)
	// Opened silenced.
	if _, err := inc.AddSilence(ctx, map[string]string{"host": "db-1"}, time.Hour, "alice", ""); err != nil {
		t.Fatal(err)
	}
	b := anomaly("db-1", "warning", nil)
	inc.FromAnomaly(ctx, b)
	n.Flush(ctx)
	inc.FromRecovery(ctx, detector.Recovery{Check: "cpu", Labels: b.Labels, T: time.Now()})
	n.Flush(ctx)
	if len(rec.calls) != 0 {
		t.Fatalf("silenced incidents got cards: %q", rec.calls)
	}
}
