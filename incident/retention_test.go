package incident

import (
	"context"
	"testing"
	"time"

	"github.com/smartcloudops/smartcloudops/detector"
	"github.com/smartcloudops/smartcloudops/internal/store"
)

// TestPruneKeepsOpenAndRecent checks that Prune deletes incidents resolved before the cutoff and
// keeps open ones, recently resolved ones and stored incidents it cannot read.
func TestPruneKeepsOpenAndRecent(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	m, err := New(Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC)
	at := func(check string, opened, resolved time.Time) Incident {
		a := anomaly(97, opened)
		a.Check = check
		inc, _, err := m.FromAnomaly(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		if !resolved.IsZero() {
			m.FromRecovery(ctx, detector.Recovery{Check: check, Labels: a.Labels, T: resolved})
		}
		return inc
	}
	old := at("cpu", t0, t0.Add(time.Hour))
	recent := at("mem", t0, t0.Add(60*24*time.Hour))
	open := at("disk", t0, time.Time{})
	if _, err := st.Put(ctx, incPrefix+"inc-badbad", []byte("{not json")); err != nil {
		t.Fatal(err)
	}

	pruned, err := m.Prune(ctx, t0.Add(30*24*time.Hour))
	if err != nil || len(pruned) != 1 || pruned[0].ID != old.ID {
		t.Fatalf("pruned %+v, %v; want %s", pruned, err, old.ID)
	}
	if _, err := m.Get(ctx, old.ID); err == nil {
		t.Fatal("the incident resolved before the cutoff is still there")
	}
	for _, id := range []string{recent.ID, open.ID} {
		if _, err := m.Get(ctx, id); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
	}
	if _, err := st.Get(ctx, incPrefix+"inc-badbad"); err != nil {
		t.Fatalf("an unreadable incident was deleted: %v", err)
	}
}
