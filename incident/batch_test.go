package incident

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/smartcloudops/smartcloudops/detector"
	"github.com/smartcloudops/smartcloudops/internal/store"
)

// stored reads incident id straight from the store, bypassing the manager's memory.
func stored(t *testing.T, s store.Store, id string) Incident {
	t.Helper()
	kv, err := s.Get(context.Background(), incPrefix+id)
	if err != nil {
		t.Fatal(err)
	}
	var inc Incident
	if err := json.Unmarshal(kv.Value, &inc); err != nil {
		t.Fatal(err)
	}
	return inc
}

func TestRoutineUpdatesAreBatched(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	m, err := New(Options{Store: st, WriteEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	opened, _, _ := m.FromAnomaly(ctx, anomaly(97, t0))
	for i := 1; i <= 3; i++ {
		if _, c, err := m.FromAnomaly(ctx, anomaly(97+float64(i), t0.Add(time.Duration(i)*time.Minute))); err != nil || c != Updated {
			t.Fatalf("update %d: %v %v", i, c, err)
		}
	}
	if got := stored(t, st, opened.ID); got.Value != 97 || got.Updates != 0 {
		t.Fatalf("routine updates written at once: %+v", got)
	}
	// Every read sees the latest evidence.
	got, err := m.Get(ctx, opened.ID)
	if err != nil || got.Value != 100 || got.Updates != 3 || !got.LastSeen.Equal(t0.Add(3*time.Minute)) {
		t.Fatalf("Get: %+v %v", got, err)
	}
	if list, _ := m.List(ctx, false); len(list) != 1 || list[0].Value != 100 {
		t.Fatalf("List: %+v", list)
	}
	if err := m.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// A fresh process on the same store sees them after the flush.
	m2, _ := New(Options{Store: st})
	if got, _ := m2.Get(ctx, opened.ID); got.Value != 100 || got.Updates != 3 {
		t.Fatalf("after flush: %+v", got)
	}
}

func TestMaterialChangesAreWrittenAtOnceWithTheRoutineOnes(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	m, _ := New(Options{Store: st, WriteEvery: time.Hour})
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	inc, _, _ := m.FromAnomaly(ctx, anomaly(97, t0))
	m.FromAnomaly(ctx, anomaly(98, t0.Add(time.Minute)))

	// Linking a proposal keeps the routine update held in memory.
	if _, err := m.Update(ctx, inc.ID, func(i *Incident) { i.Proposals = append(i.Proposals, "p-1") }); err != nil {
		t.Fatal(err)
	}
	if got := stored(t, st, inc.ID); got.Value != 98 || len(got.Proposals) != 1 {
		t.Fatalf("after Update: %+v", got)
	}

	// A new severity is written at once.
	a := anomaly(99, t0.Add(2*time.Minute))
	a.Severity = "warning"
	m.FromAnomaly(ctx, a)
	if got := stored(t, st, inc.ID); got.Severity != "warning" || got.Value != 99 || got.Updates != 2 || len(got.Proposals) != 1 {
		t.Fatalf("after severity change: %+v", got)
	}

	// Resolving writes the last routine update with it.
	m.FromAnomaly(ctx, func() detector.Anomaly { a := anomaly(120, t0.Add(3*time.Minute)); a.Severity = "warning"; return a }())
	m.FromRecovery(ctx, detector.Recovery{Check: "cpu", Labels: map[string]string{"asg": "web-asg"}, T: t0.Add(4 * time.Minute)})
	if got := stored(t, st, inc.ID); got.State != StateResolved || got.Value != 120 || got.Updates != 3 {
		t.Fatalf("after resolve: %+v", got)
	}
	if err := m.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := stored(t, st, inc.ID); got.State != StateResolved {
		t.Fatalf("a flush after resolving reopened it: %+v", got)
	}
}

func TestRunWritesHeldUpdates(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st := store.NewMemory()
	m, _ := New(Options{Store: st, WriteEvery: 5 * time.Millisecond})
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	inc, _, _ := m.FromAnomaly(ctx, anomaly(97, t0))
	m.FromAnomaly(ctx, anomaly(98, t0.Add(time.Minute)))
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for stored(t, st, inc.ID).Value != 98 {
		if time.Now().After(deadline) {
			t.Fatal("Run did not write the held update")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
