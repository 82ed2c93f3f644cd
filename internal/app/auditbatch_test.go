package app

import (
	"context"
	"fmt"
	"testing"

	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/remediation/audit"
)

// TestAuditBatchKeepsEachIncidentsOrder: the records a tick or a webhook round collects are all
// in the log when write returns, each incident's in the order they came; one that comes after
// write has begun is left to its caller, never dropped.
func TestAuditBatchKeepsEachIncidentsOrder(t *testing.T) {
	ctx := context.Background()
	b, err := Build(ctx, Options{Config: testConfig(t, t.TempDir()), Logger: obs.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.close()
	ab := &auditBatch{}
	for _, kind := range []string{"incident.opened", "incident.resolved"} {
		for i := range 50 {
			if !ab.add(audit.Record{Kind: kind, User: "bot", Incident: fmt.Sprintf("inc-%02d", i)}) {
				t.Fatal("add refused before write")
			}
		}
	}
	ab.write(ctx, b, nil)
	if ab.add(audit.Record{Kind: "incident.opened", Incident: "late"}) {
		t.Fatal("add after write kept a record that would never be written")
	}
	recs, err := b.Audit.List(ctx, audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string][]string{}
	for _, r := range recs {
		if r.Incident != "" {
			seen[r.Incident] = append(seen[r.Incident], r.Kind)
		}
	}
	for i := range 50 {
		id := fmt.Sprintf("inc-%02d", i)
		if got := seen[id]; len(got) != 2 || got[0] != "incident.opened" || got[1] != "incident.resolved" {
			t.Fatalf("%s: %v, want opened then resolved", id, got)
		}
	}
	if n, err := b.Audit.Verify(ctx); err != nil || n < 100 {
		t.Fatalf("Verify: %d records, %v", n, err)
	}
}
