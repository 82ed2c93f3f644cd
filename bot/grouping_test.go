package bot

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smartcloudops/smartcloudops/detector"
	"github.com/smartcloudops/smartcloudops/incident"
	"github.com/smartcloudops/smartcloudops/internal/store"
)

// TestStormIsOneCardPerGroupAndChannel: a burst of incidents becomes one card per group key and
// channel, however many there are; members that change, join or resolve edit it; once every
// member has resolved the group is over and the next incident of its key starts a new card.
func TestStormIsOneCardPerGroupAndChannel(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	var ops []incident.Incident
	for i := range 12 {
		in, _, err := h.inc.FromAnomaly(ctx, anomaly(fmt.Sprintf("web-%02d", i), "warning", nil))
		if err != nil {
			t.Fatal(err)
		}
		ops = append(ops, in)
	}
	for i := range 3 {
		h.inc.FromAnomaly(ctx, anomaly(fmt.Sprintf("api-%d", i), "critical", map[string]string{"team": "web"}))
	}
	mem := anomaly("db-1", "warning", nil)
	mem.Check = "memory"
	h.inc.FromAnomaly(ctx, mem)
	h.n.Flush(ctx)
	want := []string{"post C-ops cpu: 12 incidents, 12 open", "post C-web cpu: 3 incidents, 3 open", "post C-ops memory above the expected band on host=db-1"}
	if got := h.rec.take(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	h.inc.FromRecovery(ctx, detector.Recovery{Check: "cpu", Labels: ops[0].Labels, T: time.Now()})
	h.inc.FromAnomaly(ctx, anomaly("web-12", "warning", nil)) // joins the open card
	h.n.Flush(ctx)
	if got := h.rec.take(); len(got) != 1 || got[0] != "update 1 cpu: 13 incidents, 12 open" {
		t.Fatalf("a resolution and a join: %q, want one edit of the card", got)
	}
	for i := 1; i <= 12; i++ {
		h.inc.FromRecovery(ctx, detector.Recovery{Check: "cpu", Labels: map[string]string{"host": fmt.Sprintf("web-%02d", i)}, T: time.Now()})
	}
	h.n.Flush(ctx)
	if got := h.rec.take(); len(got) != 1 || got[0] != "update 1 Resolved: cpu: 13 incidents" {
		t.Fatalf("the group's end: %q", got)
	}
	h.inc.FromAnomaly(ctx, anomaly("web-00", "warning", nil))
	h.n.Flush(ctx)
	if got := h.rec.take(); len(got) != 1 || got[0] != "post C-ops cpu above the expected band on host=web-00" {
		t.Fatalf("an incident after the group ended: %q, want a new card", got)
	}
}

// TestGroupKeyIncludesRule: with the default group_by, incidents whose proposals come from
// different rules get different cards, and a grouped card offers to approve its identical
// plans at once.
func TestGroupKeyIncludesRule(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	for i := range 3 {
		in, _, _ := h.inc.FromAnomaly(ctx, anomaly(fmt.Sprintf("web-%d", i), "warning", nil))
		h.propose(t, in.ID, "web-asg")
	}
	h.inc.FromAnomaly(ctx, anomaly("web-9", "warning", nil)) // no proposal: another group
	h.n.Flush(ctx)
	got := h.rec.take()
	want := "post C-ops cpu · scale-out: 3 incidents, 3 open\npost C-ops cpu above the expected band on host=web-9"
	if strings.Join(got, "\n") != want {
		t.Fatalf("calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), want)
	}
	var all Button
	h.rec.mu.Lock()
	msgs := h.rec.msgs
	h.rec.mu.Unlock()
	for _, b := range msgs[0].Buttons() {
		if b.Action == ActionApproveAll {
			all = b
		}
	}
	n, _, group, err := SplitApproveAllValue(all.Value)
	if err != nil || n != 3 || all.Label != "Approve all 3" {
		t.Fatalf("grouped card's Approve-all button: %+v (%v)", all, err)
	}
	if members, ok, err := h.n.Members(ctx, group); err != nil || !ok || len(members) != 3 {
		t.Fatalf("members of the button's card %s: %q, %v, %v", group, members, ok, err)
	}
}

// TestEditsArePaced: new values edit a card at most every EditEvery, a proposal shows at once,
// new members wait for the group interval, and a storm's first card waits for Group.Wait so
// the incidents of a few ticks share it.
func TestEditsArePaced(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, func(o *NotifierOptions) {
			o.EditEvery, o.Group = 30*time.Second, GroupOptions{Wait: 5 * time.Second, Interval: 20 * time.Second}
		})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- h.n.Run(ctx) }()
		defer func() { cancel(); <-done }()
		a := anomaly("web-1", "warning", nil)
		in, _, _ := h.inc.FromAnomaly(ctx, a)
		synctest.Wait()
		time.Sleep(2 * time.Second)
		h.inc.FromAnomaly(ctx, anomaly("web-2", "warning", nil)) // the next tick of the storm
		synctest.Wait()
		if got := h.rec.take(); len(got) != 0 {
			t.Fatalf("posted before the group wait: %q", got)
		}
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if got := h.rec.take(); len(got) != 1 || got[0] != "post C-ops cpu: 2 incidents, 2 open" {
			t.Fatalf("after the group wait: %q", got)
		}
		// A new value every second for 40 s: one edit 30 s after the post, not 40.
		for i := range 40 {
			a.Value, a.T = 100+float64(i), a.T.Add(time.Second)
			h.inc.FromAnomaly(ctx, a)
			time.Sleep(time.Second)
			synctest.Wait()
		}
		if got := h.rec.take(); len(got) != 1 || !strings.HasPrefix(got[0], "update 1 ") {
			t.Fatalf("40 new values: %q, want one edit", got)
		}
		// A proposal is a change of state: shown at once (within the state edit gap).
		h.propose(t, in.ID, "web-asg")
		time.Sleep(stateEditGap)
		synctest.Wait()
		if got := h.rec.take(); len(got) != 1 {
			t.Fatalf("a proposal: %q, want one edit at once", got)
		}
		// A new member joins after the group interval.
		h.inc.FromAnomaly(ctx, anomaly("web-3", "warning", nil))
		time.Sleep(5 * time.Second) // its group wait
		synctest.Wait()
		if got := h.rec.take(); len(got) != 0 {
			t.Fatalf("a join edited the card before the group interval: %q", got)
		}
		time.Sleep(15 * time.Second)
		synctest.Wait()
		if got := h.rec.take(); len(got) != 1 || got[0] != "update 1 cpu: 3 incidents, 3 open" {
			t.Fatalf("after the group interval: %q", got)
		}
	})
}

// TestOpenGroupSurvivesRestart: after a restart, a new incident of an open group joins the card
// that is up instead of starting another.
func TestOpenGroupSurvivesRestart(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	h.inc.FromAnomaly(ctx, anomaly("web-1", "warning", nil))
	h.inc.FromAnomaly(ctx, anomaly("web-2", "warning", nil))
	h.n.Flush(ctx)
	h.build(t, nil) // a new process on the same store
	h.inc.FromAnomaly(ctx, anomaly("web-3", "warning", nil))
	h.n.Flush(ctx)
	want := "post C-ops cpu: 2 incidents, 2 open\nupdate 1 cpu: 3 incidents, 3 open"
	if got := strings.Join(h.rec.take(), "\n"); got != want {
		t.Fatalf("calls:\n%s\nwant:\n%s", got, want)
	}
}

// chartFiles draws a fake chart per incident and counts the drawings.
type chartFiles struct {
	dir   string
	draws atomic.Int32
}

func (c *chartFiles) draw(inc incident.Incident) string {
	c.draws.Add(1)
	path := filepath.Join(c.dir, inc.ID+".png")
	if err := os.WriteFile(path, []byte("\x89PNG "+inc.State), 0o600); err != nil {
		panic(err)
	}
	return path
}

// TestChartPolicy: the chart is drawn for a new card, not again for edits within ChartEvery,
// again after it while the episode goes on, and always when it ends. A platform whose edits
// replace images gets the new chart with the edit; the others get the episode's final chart
// in the card's thread.
func TestChartPolicy(t *testing.T) {
	for _, editsImages := range []bool{false, true} {
		t.Run(fmt.Sprintf("edits images %v", editsImages), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				charts := &chartFiles{dir: t.TempDir()}
				ad := &imaging{}
				h := newHarness(t, func(o *NotifierOptions) {
					o.Targets = []Target{{Adapter: ad, DefaultChannel: "C-ops", EditsImages: editsImages}}
					o.Chart, o.ChartEvery, o.EditEvery = charts.draw, time.Minute, 10*time.Second
				})
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan error)
				go func() { done <- h.n.Run(ctx) }()
				defer func() { cancel(); <-done }()
				a := anomaly("web-1", "warning", nil)
				h.inc.FromAnomaly(ctx, a)
				synctest.Wait()
				for i := range 7 { // 70 s of new values
					time.Sleep(10 * time.Second)
					a.Value, a.T = 100+float64(i), a.T.Add(10*time.Second)
					h.inc.FromAnomaly(ctx, a)
					synctest.Wait()
				}
				h.inc.FromRecovery(ctx, detector.Recovery{Check: "cpu", Labels: a.Labels, T: a.T.Add(time.Second)})
				time.Sleep(stateEditGap)
				synctest.Wait()
				if n := charts.draws.Load(); n != 3 {
					t.Errorf("%d charts drawn, want 3 (the post, after a minute, the end)", n)
				}
				got := strings.Join(ad.seen(), ",")
				// The fake chart is "\x89PNG <state>": 9 bytes open, 13 resolved.
				want := "post 9,edit 0,edit 0,edit 0,edit 0,edit 0,edit 9,edit 0,edit 13,thread 13"
				if editsImages {
					want = "post 9,edit 0,edit 0,edit 0,edit 0,edit 0,edit 9,edit 0,edit 13"
				}
				if got != want {
					t.Errorf("images sent: %s\nwant:        %s", got, want)
				}
			})
		})
	}
}

// TestChartWorkersAreBounded: a pass with many charts to draw draws at most ChartWorkers at once.
func TestChartWorkersAreBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var active, most atomic.Int32
		release := make(chan struct{})
		var mu sync.Mutex
		h := newHarness(t, func(o *NotifierOptions) {
			o.Group.By = []string{GroupByAll} // a card per series
			o.ChartWorkers = 3
			o.Chart = func(inc incident.Incident) string {
				n := active.Add(1)
				mu.Lock()
				most.Store(max(most.Load(), n))
				mu.Unlock()
				<-release
				active.Add(-1)
				return ""
			}
		})
		ctx := context.Background()
		for i := range 10 {
			h.inc.FromAnomaly(ctx, anomaly(fmt.Sprintf("web-%d", i), "warning", nil))
		}
		done := make(chan struct{})
		go func() { h.n.Flush(ctx); close(done) }()
		synctest.Wait()
		if n := active.Load(); n != 3 {
			t.Fatalf("%d charts drawing at once, want 3", n)
		}
		close(release)
		<-done
		if n := most.Load(); n != 3 {
			t.Fatalf("at most %d charts at once, want 3", n)
		}
		if n := count(h.rec.take(), "post "); n != 10 {
			t.Fatalf("%d cards, want 10", n)
		}
	})
}

// TestCardFromBeforeGroupsIsEdited: a card recorded before cards were grouped (a record under
// the incident's own ID with its Ref) is edited in place, not posted again.
func TestCardFromBeforeGroupsIsEdited(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	in, _, _ := h.inc.FromAnomaly(ctx, anomaly("web-1", "warning", nil))
	h.n.take()
	old := `{"ref":{"Platform":"rec","Channel":"C-ops","ID":"41"},"posted":{}}`
	if _, err := h.st.Put(ctx, "cards/"+in.ID+"/rec", []byte(old)); err != nil {
		t.Fatal(err)
	}
	a := anomaly("web-1", "warning", nil)
	a.Value = 120
	h.inc.FromAnomaly(ctx, a)
	h.n.Flush(ctx)
	if got := h.rec.take(); len(got) != 1 || got[0] != "update 41 cpu above the expected band on host=web-1" {
		t.Fatalf("calls %q, want one edit of card 41", got)
	}
}

// TestMetricsStartAtZero: the notifier's counters exist for every platform and op from the
// start, so a dashboard shows 0 rather than "No data" before the first card.
func TestMetricsStartAtZero(t *testing.T) {
	reg := prometheus.NewRegistry()
	newHarness(t, func(o *NotifierOptions) { o.Registerer = reg })
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, mf := range mfs {
		got[mf.GetName()] = len(mf.GetMetric())
	}
	if got["smartcloudops_notifier_cards_total"] != 3 || got["smartcloudops_notifier_charts_total"] != 1 {
		t.Fatalf("series at start: %v, want 3 ops for the one platform and the chart counter", got)
	}
}

// TestStormCardOfManyMembersIsRecorded: a storm's card with more members than one etcd
// transaction may write is posted and recorded, and a restart finds every member's card.
func TestStormCardOfManyMembersIsRecorded(t *testing.T) {
	st := store.NewMemory().WithEtcdLimits()
	h := newHarnessOn(t, st, nil)
	ctx := context.Background()
	for i := range 300 {
		if _, _, err := h.inc.FromAnomaly(ctx, anomaly(fmt.Sprintf("web-%03d", i), "warning", nil)); err != nil {
			t.Fatal(err)
		}
	}
	h.n.Flush(ctx)
	h.build(t, nil) // a new process on the same store finds the card and edits it
	h.inc.FromAnomaly(ctx, anomaly("web-300", "warning", nil))
	h.n.Flush(ctx)
	want := "post C-ops cpu: 300 incidents, 300 open\nupdate 1 cpu: 301 incidents, 301 open"
	if got := strings.Join(h.rec.take(), "\n"); got != want {
		t.Fatalf("calls:\n%s\nwant:\n%s", got, want)
	}
}

// TestWaitingIncidentsCostNoReadsPerPass: while a storm's incidents wait for their group wait,
// each pass that places one looks at the others only in memory when their group's card is
// already posted, rather than reading the store for each of them again and again.
func TestWaitingIncidentsCostNoReadsPerPass(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &countingStore{Store: store.NewMemory()}
		h := newHarnessOn(t, st, func(o *NotifierOptions) {
			o.EditEvery, o.Group = 30*time.Second, GroupOptions{Wait: 5 * time.Second, Interval: 20 * time.Second}
		})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- h.n.Run(ctx) }()
		defer func() { cancel(); <-done }()
		h.inc.FromAnomaly(ctx, anomaly("web-0", "warning", nil))
		time.Sleep(6 * time.Second)
		synctest.Wait()
		if got := h.rec.take(); len(got) != 1 {
			t.Fatalf("the group's card: %q, want one post", got)
		}
		// One incident, then a storm a second later: the first one's pass finds the rest waiting.
		h.inc.FromAnomaly(ctx, anomaly("web-1", "warning", nil))
		time.Sleep(time.Second)
		const storm = 50
		for i := range storm {
			h.inc.FromAnomaly(ctx, anomaly(fmt.Sprintf("web-%d", i+2), "warning", nil))
		}
		synctest.Wait()
		st.all.Store(0)
		time.Sleep(4500 * time.Millisecond) // web-1's group wait ends; the storm's does not
		synctest.Wait()
		if got := st.all.Load(); got >= storm {
			t.Fatalf("%d store reads in the pass that placed one incident while %d wait", got, storm)
		}
		time.Sleep(20 * time.Second)
		synctest.Wait()
		got := h.rec.take()
		if len(got) == 0 || !strings.Contains(got[len(got)-1], fmt.Sprintf("%d incidents", storm+2)) {
			t.Fatalf("after the storm's group wait and interval: %q, want the card to show all %d", got, storm+2)
		}
	})
}
