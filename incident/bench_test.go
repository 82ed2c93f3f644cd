package incident

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/smartcloudops/smartcloudops/detector"
	"github.com/smartcloudops/smartcloudops/internal/store"
)

// BenchmarkAnomalyStormTick measures one check tick in which 1,000 series are all anomalous and
// each already has an open incident (the steady state of an anomaly storm), on the bbolt store,
// followed by the batched write of their updates (which Run does every WriteEvery, 15s by
// default: at most once per tick of a 15s check).
func BenchmarkAnomalyStormTick(b *testing.B) {
	db, err := store.OpenBolt(filepath.Join(b.TempDir(), "s.db"), store.BoltOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	m, err := New(Options{Store: db})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	const series = 1000
	as := make([]detector.Anomaly, series)
	for i := range as {
		as[i] = detector.Anomaly{Check: "cpu", Severity: "warning", Labels: map[string]string{"instance": fmt.Sprintf("i-%04d", i)},
			T: t0, Value: 95, Score: 0.9, Expected: 40, Lower: 30, Upper: 50, Since: t0}
		if _, _, err := m.FromAnomaly(ctx, as[i]); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for n := range b.N {
		for i := range as {
			as[i].T = t0.Add(time.Duration(n+1) * 15 * time.Second)
			if _, _, err := m.FromAnomaly(ctx, as[i]); err != nil {
				b.Fatal(err)
			}
		}
		if err := m.Flush(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
