package incident

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smartcloudops/smartcloudops/detector"
	"github.com/smartcloudops/smartcloudops/internal/index"
	"github.com/smartcloudops/smartcloudops/internal/store"
)

// stepClock is a test clock that the test moves; the Manager reads it from one goroutine.
type stepClock struct{ t time.Time }

func (c *stepClock) Now() time.Time { return c.t }

// indexed returns the time index's entries: position → the state it records.
func indexed(t *testing.T, st store.Store) map[string]string {
	t.Helper()
	kvs, err := st.List(context.Background(), incIndex.Time)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, kv := range kvs {
		out[strings.TrimPrefix(kv.Key, incIndex.Time)] = string(kv.Value)
	}
	return out
}

// newest orders incidents as their index does: newest first, the same time by ID.
func newest(incs []Incident) []string {
	incs = slices.Clone(incs)
	slices.SortFunc(incs, func(a, b Incident) int {
		return strings.Compare(index.Pos(a.OpenedAt, a.ID), index.Pos(b.OpenedAt, b.ID))
	})
	ids := make([]string, len(incs))
	for i, inc := range incs {
		ids[i] = inc.ID
	}
	return ids
}

// pagesOf follows ListPage from the start with limit and returns the IDs in order.
func pagesOf(t *testing.T, m *Manager, state string, limit int) []string {
	t.Helper()
	var ids []string
	after := ""
	for range 10000 {
		pg, err := m.ListPage(context.Background(), PageQuery{State: state, After: after, Limit: limit})
		if err != nil {
			t.Fatal(err)
		}
		for _, inc := range pg.Incidents {
			ids = append(ids, inc.ID)
		}
		if pg.Next == "" {
			return ids
		}
		after = pg.Next
	}
	t.Fatal("ListPage never ended")
	return nil
}

func hostAnomaly(host string, at time.Time) detector.Anomaly {
	a := anomaly(97, at)
	a.Labels = map[string]string{"host": host}
	return a
}

// TestIndexFollowsIncidents: the index gets an entry when an incident opens (alone or in a tick's
// batch) and records its state when it resolves; pages of every state list what List does, in
// the index's order, routine updates held in memory included.
func TestIndexFollowsIncidents(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory().WithEtcdLimits()
	clk := &stepClock{t: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
	m, err := New(Options{Store: st, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 { // alone, two at each time
		if _, _, err := m.FromAnomaly(ctx, hostAnomaly(fmt.Sprintf("a%02d", i), clk.t)); err != nil {
			t.Fatal(err)
		}
		if i%2 == 1 {
			clk.t = clk.t.Add(time.Minute)
		}
	}
	tick := detector.Tick{Check: "cpu", T: clk.t} // twenty in one batch, all at one time
	for i := range 20 {
		a := hostAnomaly(fmt.Sprintf("b%02d", i), clk.t)
		tick.Events = append(tick.Events, detector.Event{Anomaly: &a})
	}
	if _, err := m.ApplyTick(ctx, tick); err != nil {
		t.Fatal(err)
	}
	clk.t = clk.t.Add(time.Minute)
	for i := 0; i < 20; i += 3 {
		for _, p := range []string{"a", "b"} {
			if _, c, err := m.FromRecovery(ctx, detector.Recovery{Check: "cpu", Labels: map[string]string{"host": fmt.Sprintf("%s%02d", p, i)}, T: clk.t}); err != nil || c != Resolved {
				t.Fatalf("resolve: %v %v", c, err)
			}
		}
	}
	// A routine update, held in memory: pages show it as every read does.
	up := hostAnomaly("a01", clk.t.Add(time.Minute))
	up.Value = 99
	moved, _, err := m.FromAnomaly(ctx, up)
	if err != nil || len(m.pending) != 1 || moved.Value != 99 {
		t.Fatalf("routine update: %v, %d held", err, len(m.pending))
	}

	all, err := m.List(ctx, true)
	if err != nil || len(all) != 40 {
		t.Fatalf("%d incidents, %v", len(all), err)
	}
	byState := map[string][]Incident{"": all}
	for _, inc := range all {
		byState[inc.State] = append(byState[inc.State], inc)
	}
	if len(byState[StateResolved]) != 14 {
		t.Fatalf("%d resolved", len(byState[StateResolved]))
	}
	entries := indexed(t, st)
	if len(entries) != 40 {
		t.Fatalf("%d index entries for 40 incidents", len(entries))
	}
	for _, inc := range all {
		if got := entries[index.Pos(inc.OpenedAt, inc.ID)]; got != inc.State {
			t.Errorf("%s is %s, its entry says %q", inc.ID, inc.State, got)
		}
	}
	for state, incs := range byState {
		for _, limit := range []int{1, 3, 13, 26, 40, 41} {
			if got := pagesOf(t, m, state, limit); !slices.Equal(got, newest(incs)) {
				t.Errorf("state %q, limit %d: %v\nwant %v", state, limit, got, newest(incs))
			}
		}
	}
	pg, err := m.ListPage(ctx, PageQuery{Limit: 40})
	if err != nil {
		t.Fatal(err)
	}
	if i := slices.IndexFunc(pg.Incidents, func(inc Incident) bool { return inc.ID == moved.ID }); i < 0 || pg.Incidents[i].Value != 99 {
		t.Errorf("the page does not show the update held in memory: %+v", pg.Incidents)
	}
	if _, err := m.ListPage(ctx, PageQuery{State: "closed", Limit: 1}); err == nil {
		t.Error("an unknown state was accepted")
	}
}

// TestOpenPagesFindOldIncidents: an incident open for long sits deep in the index, behind many
// resolved ones; a page of open incidents finds it without a scan, from the fingerprints, and
// with more open incidents than those are read for, pages come from the index just the same.
func TestOpenPagesFindOldIncidents(t *testing.T) {
	ctx := context.Background()
	clk := &stepClock{t: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
	m, err := New(Options{Store: store.NewMemory(), Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	old, _, err := m.FromAnomaly(ctx, hostAnomaly("old", clk.t))
	if err != nil {
		t.Fatal(err)
	}
	for i := range index.ScanSlack / 100 {
		clk.t = clk.t.Add(time.Minute)
		host := fmt.Sprintf("r%04d", i)
		m.FromAnomaly(ctx, hostAnomaly(host, clk.t))
		m.FromRecovery(ctx, detector.Recovery{Check: "cpu", Labels: map[string]string{"host": host}, T: clk.t})
	}
	pg, err := m.ListPage(ctx, PageQuery{State: StateOpen, Limit: 10})
	if err != nil || len(pg.Incidents) != 1 || pg.Incidents[0].ID != old.ID || pg.Next != "" {
		t.Fatalf("open page: %+v %v", pg, err)
	}

	var open []Incident
	for i := range openPageMax + 20 {
		clk.t = clk.t.Add(time.Second)
		inc, _, err := m.FromAnomaly(ctx, hostAnomaly(fmt.Sprintf("o%04d", i), clk.t))
		if err != nil {
			t.Fatal(err)
		}
		open = append(open, inc)
	}
	open = append(open, old)
	if got := pagesOf(t, m, StateOpen, 50); !slices.Equal(got, newest(open)) {
		t.Fatalf("%d open incidents in pages, want %d, newest first", len(got), len(open))
	}
}

// TestPruneDeletesIndexEntries: an incident pruned takes its index entry with it; the others
// keep theirs.
func TestPruneDeletesIndexEntries(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	clk := &stepClock{t: time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC)}
	m, err := New(Options{Store: st, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	var kept []Incident
	for i := range 10 {
		host := fmt.Sprintf("h%d", i)
		inc, _, err := m.FromAnomaly(ctx, hostAnomaly(host, clk.t))
		if err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			m.FromRecovery(ctx, detector.Recovery{Check: "cpu", Labels: map[string]string{"host": host}, T: clk.t})
			continue
		}
		kept = append(kept, inc)
	}
	pruned, err := m.Prune(ctx, clk.t.Add(time.Hour))
	if err != nil || len(pruned) != 5 {
		t.Fatalf("pruned %d, %v", len(pruned), err)
	}
	entries := indexed(t, st)
	if len(entries) != len(kept) {
		t.Fatalf("%d index entries after pruning, want %d", len(entries), len(kept))
	}
	for _, inc := range kept {
		if entries[index.Pos(inc.OpenedAt, inc.ID)] != StateOpen {
			t.Errorf("%s lost its entry", inc.ID)
		}
	}
	if got := pagesOf(t, m, "", 3); !slices.Equal(got, newest(kept)) {
		t.Fatalf("after pruning: %v", got)
	}
}

// TestEnsureIndexOnAStoreWithoutIt: incidents stored by a version without the index (the same keys
// but incidents/by-time/) are indexed once at start; a second start finds the marker and reads
// nothing more.
func TestEnsureIndexOnAStoreWithoutIt(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory().WithEtcdLimits()
	clk := &stepClock{t: time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC)}
	m, err := New(Options{Store: st, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	const n = 300
	for i := range n {
		clk.t = clk.t.Add(time.Second)
		host := fmt.Sprintf("h%03d", i)
		if _, _, err := m.FromAnomaly(ctx, hostAnomaly(host, clk.t)); err != nil {
			t.Fatal(err)
		}
		if i%4 != 0 {
			m.FromRecovery(ctx, detector.Recovery{Check: "cpu", Labels: map[string]string{"host": host}, T: clk.t})
		}
	}
	if _, err := st.Put(ctx, incPrefix+"inc-corrupt", []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	want := pagesOf(t, m, "", 500)
	kvs, _ := st.List(ctx, incIndex.Time)
	for _, kv := range kvs {
		if err := st.Delete(ctx, kv.Key); err != nil {
			t.Fatal(err)
		}
	}
	if got := pagesOf(t, m, "", 50); len(got) != 0 {
		t.Fatalf("without the index a page lists %d incidents", len(got))
	}

	restarted, err := New(Options{Store: st, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	built, stats, err := restarted.EnsureIndex(ctx)
	if !built || err != nil || stats.Items != n+1 || stats.Written != n || stats.Removed != 0 || stats.Skipped != 0 {
		t.Fatalf("EnsureIndex: %v %+v %v", built, stats, err)
	}
	for _, state := range []string{"", StateResolved, StateOpen} {
		if got := pagesOf(t, restarted, state, 7); state == "" && !slices.Equal(got, want) || len(got) == 0 {
			t.Fatalf("state %q after indexing: %d incidents", state, len(got))
		}
	}
	if built, stats, err := restarted.EnsureIndex(ctx); built || err != nil || stats != (index.Stats{}) {
		t.Fatalf("a second EnsureIndex: %v %+v %v", built, stats, err)
	}
}
