package app

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/smartcloudops/smartcloudops/incident"
	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/internal/store"
	"github.com/smartcloudops/smartcloudops/remediation"
)

// TestBuildIndexesAStoreWrittenWithoutIt starts the bot on a store an earlier version wrote, whose
// incidents and proposals have no index entries: they are listed by page from the start, and the
// next start does not index them again.
func TestBuildIndexesAStoreWrittenWithoutIt(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	st := store.NewMemory()
	t0 := time.Date(2026, 9, 1, 8, 0, 0, 0, time.UTC)
	put := func(key string, v any) {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Put(ctx, key, b); err != nil {
			t.Fatal(err)
		}
	}
	put("incidents/by-id/inc-0000aaaa", incident.Incident{ID: "inc-0000aaaa", Fingerprint: "f1", Source: incident.SourceDetector,
		Title: "cpu above the expected band", State: incident.StateResolved, OpenedAt: t0, LastSeen: t0, ResolvedAt: t0.Add(time.Hour)})
	put("proposals/p-00aaaa", remediation.Proposal{ID: "p-00aaaa", State: remediation.StateRejected, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)})

	logs := &syncBuffer{}
	b, err := Build(ctx, Options{Config: cfg, Store: st, Logger: obs.NewLogger(logs, obs.LogOptions{Format: "json"}), Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	incs, err := b.Incidents.ListPage(ctx, incident.PageQuery{State: incident.StateResolved, Limit: 10})
	if err != nil || len(incs.Incidents) != 1 || incs.Incidents[0].ID != "inc-0000aaaa" {
		t.Fatalf("resolved incidents after the start: %+v %v", incs, err)
	}
	ps, err := b.Proposals.ListPage(ctx, remediation.PageQuery{States: []remediation.State{remediation.StateRejected}, Limit: 10})
	if err != nil || len(ps.Proposals) != 1 || ps.Proposals[0].ID != "p-00aaaa" {
		t.Fatalf("rejected proposals after the start: %+v %v", ps, err)
	}
	b.close()
	// An incident has one entry (by time); a proposal two (by time, by state).
	for kind, entries := range map[string]int{"incidents": 1, "proposals": 2} {
		want := fmt.Sprintf(`"msg":"stored %s indexed by time","result":"1 items, %d entries written, 0 removed, 0 skipped"`, kind, entries)
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the start did not say it indexed the %s (%s):\n%s", kind, want, logs)
		}
	}

	logs = &syncBuffer{}
	again, err := Build(ctx, Options{Config: cfg, Store: st, Logger: obs.NewLogger(logs, obs.LogOptions{Format: "json"}), Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	defer again.close()
	if strings.Contains(logs.String(), "indexed by time") {
		t.Fatalf("the second start indexed again:\n%s", logs)
	}
}

// TestRetentionMendsTheIndexes: an incident and a proposal written without index entries after
// the start (by a replica of an earlier version) are listed once retention has run, and the
// mending is logged; a run that finds the indexes whole writes and logs nothing.
func TestRetentionMendsTheIndexes(t *testing.T) {
	ctx := context.Background()
	cfg := testConfig(t, t.TempDir())
	st := store.NewMemory()
	logs := &syncBuffer{}
	b, err := Build(ctx, Options{Config: cfg, Store: st, Logger: obs.NewLogger(logs, obs.LogOptions{Format: "json"}), Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.close()
	now := time.Now().UTC()
	for key, v := range map[string]any{
		"incidents/by-id/inc-0000bbbb": incident.Incident{ID: "inc-0000bbbb", Fingerprint: "f2", Source: incident.SourceAlertmanager,
			Title: "Down", State: incident.StateResolved, OpenedAt: now, LastSeen: now, ResolvedAt: now},
		"proposals/p-00bbbb": remediation.Proposal{ID: "p-00bbbb", State: remediation.StateFailed, CreatedAt: now, ExpiresAt: now.Add(time.Hour)},
	} {
		raw, _ := json.Marshal(v)
		if _, err := st.Put(ctx, key, raw); err != nil {
			t.Fatal(err)
		}
	}
	b.retention.prune(ctx)
	incs, err := b.Incidents.ListPage(ctx, incident.PageQuery{Limit: 10})
	if err != nil || len(incs.Incidents) != 1 {
		t.Fatalf("incidents after retention: %+v %v", incs, err)
	}
	ps, err := b.Proposals.ListPage(ctx, remediation.PageQuery{States: []remediation.State{remediation.StateFailed}, Limit: 10})
	if err != nil || len(ps.Proposals) != 1 {
		t.Fatalf("failed proposals after retention: %+v %v", ps, err)
	}
	for _, kind := range []string{"incidents", "proposals"} {
		if !strings.Contains(logs.String(), "the index of the stored "+kind+" did not match them and was mended") {
			t.Errorf("mending the %s was not logged:\n%s", kind, logs)
		}
	}
	before := logs.String()
	b.retention.prune(ctx)
	if strings.Count(logs.String(), "was mended") != strings.Count(before, "was mended") {
		t.Errorf("a second run mended again:\n%s", logs)
	}
}
