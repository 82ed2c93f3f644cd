//go:build integration

package etcd

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/smartcloudops/smartcloudops/internal/store"
	"github.com/smartcloudops/smartcloudops/internal/testenv"
)

// report adds p50 and p99 of the measured durations to the benchmark's output.
func report(b *testing.B, d []time.Duration) {
	slices.Sort(d)
	b.ReportMetric(float64(d[len(d)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(d[len(d)*99/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkIntegrationEtcdTxn128Puts: one transaction of 128 puts of 200 bytes on a loopback
// etcd 3.4 member.
func BenchmarkIntegrationEtcdTxn128Puts(b *testing.B) {
	e := testenv.StartEtcd(b, testenv.EtcdOptions{})
	s := open(b, Options{Endpoints: e.Endpoints()})
	ops := make([]store.Op, store.MaxTxnOps)
	for i := range ops {
		ops[i] = store.Op{Key: fmt.Sprintf("bench/%03d", i), Value: make([]byte, 200)}
	}
	ctx := context.Background()
	var d []time.Duration
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		if _, err := s.Txn(ctx, nil, ops); err != nil {
			b.Fatal(err)
		}
		d = append(d, time.Since(t0))
	}
	report(b, d)
}

// BenchmarkIntegrationEtcdWatchLatency: from a Put's call to its event on a watch of the same
// member.
func BenchmarkIntegrationEtcdWatchLatency(b *testing.B) {
	e := testenv.StartEtcd(b, testenv.EtcdOptions{})
	s := open(b, Options{Endpoints: e.Endpoints()})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := s.Watch(ctx, "inbox/", 0)
	var d []time.Duration
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		if _, err := s.Put(ctx, "inbox/click", []byte("x")); err != nil {
			b.Fatal(err)
		}
		if r := <-ch; r.Err != nil || len(r.Events) != 1 {
			b.Fatalf("watch: %+v", r)
		}
		d = append(d, time.Since(t0))
	}
	report(b, d)
}
