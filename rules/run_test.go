package rules

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/smartcloudops/smartcloudops/internal/store"
)

func TestRunSchedulesGroupsAndStops(t *testing.T) {
	defer goleak.VerifyNone(t)
	var calls atomic.Int32
	ticked := make(chan string, 16)
	e, err := NewEngine(EngineOptions{
		Store: store.NewMemory(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Registerer: prometheus.NewRegistry(),
		Query: func(_ context.Context, q string, _ time.Time) ([]Sample, error) {
			calls.Add(1)
			select {
			case ticked <- q:
			default:
			}
			return []Sample{{Labels: map[string]string{"a": "b"}, Value: 1}}, nil
		},
		OnFire: func(context.Context, Firing) error { return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	rulesFor := func(q string) *Set {
		return parseRules(t, "groups:\n  - name: g\n    interval: 10ms\n    rules:\n      - name: r\n        query: "+q+"\n        action: {name: script, params: {script: a.sh}}\n")
	}
	e.SetRules(rulesFor("first"))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	wait := func(want string) {
		t.Helper()
		deadline := time.After(5 * time.Second)
		for {
			select {
			case q := <-ticked:
				if q == want {
					return
				}
			case <-deadline:
				t.Fatalf("no tick with query %q", want)
			}
		}
	}
	wait("first")
	e.SetRules(rulesFor("second")) // reschedules with the new set
	wait("second")
	if got := e.State("r"); len(got) != 1 || got[0].State != PhaseFiring {
		t.Errorf("state carried over SetRules = %+v", got)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}
