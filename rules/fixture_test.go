package rules

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smartcloudops/smartcloudops/internal/store"
	"github.com/smartcloudops/smartcloudops/remediation"
)

// testActions is the schema lookup tests load rules with.
func testActions(name string) (remediation.Schema, bool) {
	switch name {
	case "script":
		return remediation.Schema{
			{Name: "script", Type: remediation.TypeString, Required: true},
			{Name: "args", Type: remediation.TypeList},
		}, true
	case "aws.autoscaling.scale":
		return remediation.Schema{
			{Name: "group", Type: remediation.TypeString, Required: true},
			{Name: "delta", Type: remediation.TypeInt, Required: true},
			{Name: "max", Type: remediation.TypeInt},
		}, true
	}
	return nil, false
}

func parseRules(t testing.TB, src string) *Set {
	t.Helper()
	s, err := Parse([]File{{Name: "test.yaml", Data: []byte(src)}}, LoadOptions{Actions: testActions})
	if err != nil {
		t.Fatalf("parse rules: %v", err)
	}
	return s
}

// recorder collects firings.
type recorder struct {
	mu sync.Mutex
	fs []Firing
}

func (r *recorder) onFire(_ context.Context, f Firing) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fs = append(r.fs, f)
	return nil
}

func (r *recorder) take() []Firing {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.fs
	r.fs = nil
	return out
}

type engineFixture struct {
	e     *Engine
	st    store.Store
	rec   *recorder
	reg   *prometheus.Registry
	query map[string][]Sample
}

func newFixture(t testing.TB, st store.Store, set *Set) *engineFixture {
	t.Helper()
	f := &engineFixture{st: st, rec: &recorder{}, reg: prometheus.NewRegistry(), query: map[string][]Sample{}}
	e, err := NewEngine(EngineOptions{
		Store:      st,
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		Registerer: f.reg,
		Now:        func() time.Time { return t0 },
		Query: func(_ context.Context, q string, _ time.Time) ([]Sample, error) {
			return f.query[q], nil
		},
		OnFire: f.rec.onFire,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.SetRules(set)
	f.e = e
	return f
}

var t0 = time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
