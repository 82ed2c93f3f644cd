package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/smartcloudops/smartcloudops/detector"
	"github.com/smartcloudops/smartcloudops/incident"
	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/internal/store"
	"github.com/smartcloudops/smartcloudops/remediation"
	"github.com/smartcloudops/smartcloudops/remediation/audit"
)

// TestRetentionDeletesWhatIsOver builds the bot, leaves a resolved incident with a chart and a
// rejected proposal behind, and runs retention a year later: both go, with the chart, and one
// audit record says so; an open incident stays, and a chart path outside the chart directory is
// never deleted.
func TestRetentionDeletesWhatIsOver(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	var err error
	cfg := testConfig(t, dir)
	// A relative data directory, as in the default configuration, while charts are recorded by
	// absolute path.
	wd, _ := os.Getwd()
	if cfg.DataDir, err = filepath.Rel(wd, dir); err != nil {
		t.Fatal(err)
	}
	b, err := Build(ctx, Options{Config: cfg, Logger: obs.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.close()

	charts := filepath.Join(dir, "charts")
	os.MkdirAll(charts, 0o750)
	chart := filepath.Join(charts, "old.png")
	outside := filepath.Join(dir, "keep.png")
	for _, p := range []string{chart, outside} {
		if err := os.WriteFile(p, []byte("png"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	anomaly := func(check string) detector.Anomaly {
		return detector.Anomaly{Check: check, Labels: map[string]string{"asg": "web-asg"}, Opened: true, T: time.Now(), Value: 97, Score: 0.9, Peak: 0.9, PeakValue: 97, Since: time.Now()}
	}
	old, _, err := b.Incidents.FromAnomaly(ctx, anomaly("cpu"))
	if err != nil {
		t.Fatal(err)
	}
	b.Incidents.Update(ctx, old.ID, func(inc *incident.Incident) { inc.ChartPath = chart })
	b.Incidents.FromRecovery(ctx, detector.Recovery{Check: "cpu", Labels: map[string]string{"asg": "web-asg"}, T: time.Now()})
	sneaky, _, _ := b.Incidents.FromAnomaly(ctx, anomaly("mem"))
	b.Incidents.Update(ctx, sneaky.ID, func(inc *incident.Incident) { inc.ChartPath = outside })
	b.Incidents.FromRecovery(ctx, detector.Recovery{Check: "mem", Labels: map[string]string{"asg": "web-asg"}, T: time.Now()})
	open, _, _ := b.Incidents.FromAnomaly(ctx, anomaly("disk"))
	p, err := b.Proposals.Propose(ctx, remediation.Request{Action: "script", Params: map[string]any{"script": "scale_up.sh"},
		Incident: old.ID, Requester: remediation.Actor{ID: "console:alice", Name: "alice"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Proposals.Reject(ctx, p.ID, remediation.Actor{ID: "console:alice", Name: "alice", Roles: []string{"admin"}}, "no"); err != nil {
		t.Fatal(err)
	}

	b.retention.prune(ctx) // nothing is old yet
	if all, _ := b.Incidents.List(ctx, true); len(all) != 3 {
		t.Fatalf("%d incidents after a prune with nothing old, want 3", len(all))
	}
	b.retention.now = func() time.Time { return time.Now().Add(365 * 24 * time.Hour) }
	b.retention.prune(ctx)

	all, _ := b.Incidents.List(ctx, true)
	if len(all) != 1 || all[0].ID != open.ID {
		t.Fatalf("incidents left %+v, want only the open one", all)
	}
	if ps, _ := b.Proposals.List(ctx); len(ps) != 0 {
		t.Fatalf("proposals left: %+v", ps)
	}
	if _, err := os.Stat(chart); !os.IsNotExist(err) {
		t.Fatalf("the pruned incident's chart is still there: %v", err)
	}
	if _, err := os.Stat(outside); err != nil {
		t.Fatalf("a file outside the chart directory was touched: %v", err)
	}
	recs, _ := b.Audit.List(ctx, audit.Filter{})
	var found []string
	for _, r := range recs {
		if r.Kind == "retention.pruned" {
			found = append(found, r.Detail)
		}
	}
	if len(found) != 1 || !strings.Contains(found[0], "2 incidents resolved before") || !strings.Contains(found[0], "1 proposal ended before") {
		t.Fatalf("retention audit records %q", found)
	}
	if n := testutil.ToFloat64(b.retention.deleted.WithLabelValues("incident")); n != 2 {
		t.Fatalf("incident deletions counted %v, want 2", n)
	}
	if _, err := b.Audit.Verify(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestRetentionLogsFreePages: each retention run logs how much of the bbolt file is free pages,
// and says to compact it once they are most of it.
func TestRetentionLogsFreePages(t *testing.T) {
	ctx := context.Background()
	var logs strings.Builder
	b, err := Build(ctx, Options{Config: testConfig(t, t.TempDir()), Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer b.close()
	b.retention.prune(ctx)
	if out := logs.String(); !strings.Contains(out, "retention: store file space") || !strings.Contains(out, "free_share=") || strings.Contains(out, "store compact") {
		t.Fatalf("first run logged:\n%s", out)
	}
	var ops []store.Op
	for i := range 12000 { // 24 MB
		ops = append(ops, store.Op{Key: fmt.Sprintf("scratch/%05d", i), Value: make([]byte, 2048)})
	}
	if _, err := store.WriteAll(ctx, b.Store, ops); err != nil {
		t.Fatal(err)
	}
	for i := range ops {
		ops[i] = store.Op{Key: ops[i].Key, Delete: true}
	}
	if _, err := store.WriteAll(ctx, b.Store, ops); err != nil {
		t.Fatal(err)
	}
	logs.Reset()
	b.retention.prune(ctx)
	if out := logs.String(); !strings.Contains(out, "run `smartcloudops store compact`") {
		t.Fatalf("a file mostly free logged:\n%s", out)
	}
}
