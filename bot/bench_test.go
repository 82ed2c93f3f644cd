package bot

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smartcloudops/smartcloudops/detector"
	"github.com/smartcloudops/smartcloudops/incident"
	"github.com/smartcloudops/smartcloudops/internal/store"
)

// stormSize is the storm the load target names: 10,000 series of one check at once.
const stormSize = 10000

// BenchmarkNotifierStorm10k drives the notifier through a storm of 10,000 series of one check,
// as a tick-driven bot sees it, with the group and edit intervals of the default configuration
// on a fake clock: the incidents open (and wait group_wait), a tick of new values for all,
// a proposal for each with one identical plan, and the end of all. It reports the cards
// posted and edited per storm (the load target: at most one card per group per channel) and
// the notifier's time for the whole storm; the incident stage's own work is not timed. It fails
// when the storm takes more than one card, when the grouped card does not offer to approve all
// the plans at once, or when it does not end resolved.
func BenchmarkNotifierStorm10k(b *testing.B) {
	ctx := context.Background()
	var posts, edits int
	for b.Loop() {
		b.StopTimer()
		now := time.Date(2026, 11, 25, 14, 0, 0, 0, time.UTC)
		st, err := store.OpenBolt(filepath.Join(b.TempDir(), "storm.db"), store.BoltOptions{})
		if err != nil {
			b.Fatal(err)
		}
		h := newHarnessOn(b, st, func(o *NotifierOptions) {
			o.Now = func() time.Time { return now }
			o.EditEvery, o.Group = 30*time.Second, GroupOptions{Wait: 5 * time.Second, Interval: 30 * time.Second}
		})
		step := func(d time.Duration) {
			now = now.Add(d)
			b.StartTimer()
			for batch := h.n.take(); ; batch = h.n.take() {
				h.n.process(ctx, batch, false)
				if len(batch) == 0 {
					break
				}
			}
			b.StopTimer()
		}
		a := func(i int, v float64) detector.Anomaly {
			x := anomaly(fmt.Sprintf("web-%05d", i), "warning", nil)
			x.Value, x.T, x.Since = v, now, now
			return x
		}
		ids := make([]string, stormSize)
		for i := range stormSize {
			in, _, err := h.inc.FromAnomaly(ctx, a(i, 99))
			if err != nil {
				b.Fatal(err)
			}
			ids[i] = in.ID
		}
		step(0)               // all wait for their group
		step(5 * time.Second) // group_wait: one card
		for i := range stormSize {
			h.inc.FromAnomaly(ctx, a(i, 98)) // the next tick
		}
		step(15 * time.Second)
		step(15 * time.Second) // edit_interval after the post: one edit
		for _, id := range ids {
			h.propose(b, id, "web-asg")
		}
		step(0)
		step(stateEditGap) // the proposals, in one edit
		all := false
		for _, btn := range h.rec.lastMessage().Buttons() {
			all = all || (btn.Action == ActionApproveAll && btn.Label == fmt.Sprintf("Approve all %d", stormSize))
		}
		if !all {
			b.Fatalf("the grouped card does not offer to approve all %d plans: %q", stormSize, h.rec.lastMessage().Title)
		}
		for i := range stormSize {
			h.inc.FromRecovery(ctx, detector.Recovery{Check: "cpu", Labels: a(i, 0).Labels, T: now})
		}
		step(0)
		step(stateEditGap)
		calls := h.rec.take()
		posts, edits = count(calls, "post "), count(calls, "update ")
		if posts != 1 || !strings.HasPrefix(h.rec.lastMessage().Title, "Resolved: ") {
			b.Fatalf("%d cards for one group in one channel (want 1), last %q", posts, h.rec.lastMessage().Title)
		}
		if err := st.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(posts), "cards/storm")
	b.ReportMetric(float64(edits), "edits/storm")
}

// BenchmarkIncidentChanged is what a change costs the caller (the incident stage, on the
// detector's tick): queueing it, never waiting for chat or charts.
func BenchmarkIncidentChanged(b *testing.B) {
	h := newHarness(b, nil)
	ctx := context.Background()
	incs := make([]incident.Incident, stormSize)
	for i := range incs {
		incs[i].ID = fmt.Sprintf("inc-%05d", i)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		h.n.IncidentChanged(ctx, incs[i%stormSize], incident.Updated)
		i++
		if i%stormSize == 0 {
			h.n.take()
		}
	}
}
