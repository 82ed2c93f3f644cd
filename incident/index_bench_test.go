package incident

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/smartcloudops/smartcloudops/internal/store"
)

// BenchmarkEnsureIndex measures the start-up build of the time index over 100,000 incidents
// stored by a version without it, on bbolt with etcd's transaction limits (as the bot opens it):
// one op is one whole build. go test -run '^$' -bench EnsureIndex -benchtime 3x -cpu 1 ./incident
func BenchmarkEnsureIndex(b *testing.B) {
	ctx := context.Background()
	const n = 100000
	path := filepath.Join(b.TempDir(), "s.db")
	fill, err := store.OpenBolt(path, store.BoltOptions{})
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var ops []store.Op
	for i := range n {
		inc := Incident{ID: fmt.Sprintf("inc-%08x", i), Fingerprint: fmt.Sprintf("fp%d", i), Source: SourceDetector, Check: "cpu",
			Title: "cpu above the expected band on host=h", Severity: "warning", State: StateResolved, Labels: map[string]string{"host": fmt.Sprint(i)},
			Value: 91, Score: 0.9, Expected: 40, Lower: 30, Upper: 50, Since: t0, OpenedAt: t0.Add(time.Duration(i) * time.Minute),
			LastSeen: t0, ResolvedAt: t0.Add(time.Duration(i+1) * time.Minute)}
		raw, _ := json.Marshal(inc)
		ops = append(ops, store.Op{Key: incPrefix + inc.ID, Value: raw})
		if len(ops) == 20000 {
			if _, err := fill.Txn(ctx, nil, ops); err != nil {
				b.Fatal(err)
			}
			ops = ops[:0]
		}
	}
	if err := fill.Close(); err != nil {
		b.Fatal(err)
	}
	st, err := store.OpenBolt(path, store.BoltOptions{EtcdLimits: true})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	m, err := New(Options{Store: st})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		built, stats, err := m.EnsureIndex(ctx)
		if err != nil || !built || stats.Written != n {
			b.Fatalf("%v %+v %v", built, stats, err)
		}
		b.StopTimer()
		kvs, err := st.List(ctx, incIndex.Time)
		if err != nil {
			b.Fatal(err)
		}
		ops := []store.Op{{Key: incIndex.Marker, Delete: true}}
		for _, kv := range kvs {
			ops = append(ops, store.Op{Key: kv.Key, Delete: true})
		}
		if _, err := store.WriteAll(ctx, st, ops); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}
