package incident

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/smartcloudops/smartcloudops/detector"
	"github.com/smartcloudops/smartcloudops/internal/store"
)

// countingStore counts transactions and remembers the largest.
type countingStore struct {
	store.Store
	mu             sync.Mutex
	txns           int
	maxOps, maxCmp int
}

func (c *countingStore) Txn(ctx context.Context, cmps []store.Cmp, ops []store.Op) (uint64, error) {
	c.mu.Lock()
	c.txns++
	c.maxOps, c.maxCmp = max(c.maxOps, len(ops)), max(c.maxCmp, len(cmps))
	c.mu.Unlock()
	return c.Store.Txn(ctx, cmps, ops)
}

// TestStormIsBatched: ten thousand episodes opening in one tick become incidents in a few
// hundred transactions of at most 128 writes and 128 comparisons each, every one reported.
func TestStormIsBatched(t *testing.T) {
	ctx := context.Background()
	st := &countingStore{Store: store.NewMemory()}
	var reported int
	m, err := New(Options{Store: st, OnChange: func(_ context.Context, _ Incident, c Change) {
		if c == Opened {
			reported++
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	const n = 10000
	tick := detector.Tick{Check: "cpu", T: t0}
	for i := range n {
		tick.Events = append(tick.Events, detector.Event{Anomaly: &detector.Anomaly{Check: "cpu", Opened: true,
			Labels: map[string]string{"host": fmt.Sprintf("h%05d", i)}, T: t0, Value: 95, Score: 0.9, Peak: 0.9, PeakValue: 95,
			Expected: 40, Lower: 30, Upper: 50, Since: t0}})
	}
	got, err := m.ApplyTick(ctx, tick)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n || reported != n {
		t.Fatalf("%d incidents returned, %d reported, want %d", len(got), reported, n)
	}
	if st.maxOps > store.MaxTxnOps || st.maxCmp > store.MaxTxnOps {
		t.Fatalf("a transaction carried %d writes and %d comparisons, over %d", st.maxOps, st.maxCmp, store.MaxTxnOps)
	}
	// An opening writes 3 keys (the incident, its fingerprint, its index entry) and compares 2;
	// one comparison is kept for a fence.
	perTxn := min((store.MaxTxnOps-1)/2, store.MaxTxnOps/3)
	if want := (n + perTxn - 1) / perTxn; st.txns > want {
		t.Fatalf("%d transactions for %d incidents, want about %d", st.txns, n, want)
	}
	open, err := m.List(ctx, false)
	if err != nil || len(open) != n {
		t.Fatalf("%d open incidents stored (%v), want %d", len(open), err, n)
	}
}

// TestTickKeepsOrder: an episode that opened and ended in one tick, then a new one, leaves one
// resolved incident and one open, in that order.
func TestTickKeepsOrder(t *testing.T) {
	ctx := context.Background()
	m, err := New(Options{Store: store.NewMemory()})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	labels := map[string]string{"host": "a"}
	an := func(at time.Time) detector.Event {
		return detector.Event{Anomaly: &detector.Anomaly{Check: "cpu", Opened: true, Labels: labels, T: at, Value: 95,
			Score: 0.9, Peak: 0.9, PeakValue: 95, Expected: 40, Lower: 30, Upper: 50, Since: at}}
	}
	tick := detector.Tick{Check: "cpu", T: t0, Events: []detector.Event{
		an(t0), {Recovery: &detector.Recovery{Check: "cpu", Labels: labels, T: t0.Add(time.Minute), Since: t0}}, an(t0.Add(2 * time.Minute)),
	}}
	got, err := m.ApplyTick(ctx, tick)
	if err != nil {
		t.Fatal(err)
	}
	all, _ := m.List(ctx, true)
	if len(all) != 2 {
		t.Fatalf("%d incidents, want 2", len(all))
	}
	inc := got[detector.Key(labels)]
	if inc.State != StateOpen || !inc.Since.Equal(t0.Add(2*time.Minute)) {
		t.Fatalf("the series' incident after the tick: %+v, want the second, open", inc)
	}
}

// TestRecoveryOfUnknownSeriesOpensNothing: the end of an episode whose incident is not open (it
// was resolved by hand, or never recorded) changes nothing, rather than opening an empty incident.
func TestRecoveryOfUnknownSeriesOpensNothing(t *testing.T) {
	ctx := context.Background()
	m, err := New(Options{Store: store.NewMemory()})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	got, err := m.ApplyTick(ctx, detector.Tick{Check: "cpu", T: t0, Events: []detector.Event{
		{Recovery: &detector.Recovery{Check: "cpu", Labels: map[string]string{"host": "a"}, T: t0, Since: t0.Add(-time.Hour)}}}})
	if err != nil || len(got) != 0 {
		t.Fatalf("ApplyTick: %v %v", got, err)
	}
	if all, _ := m.List(ctx, true); len(all) != 0 {
		t.Fatalf("%d incidents stored, want none", len(all))
	}
}
