package rules

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smartcloudops/smartcloudops/internal/store"
)

const scaleOnAlertRule = `
groups:
  - name: alerts
    rules:
      - name: on-alert
        alert: ['alertname="HostHighCpu"']
        action: {name: script, params: {script: restart.sh, args: ['{{ .labels.instance }}']}}
`

// TestAlertBatchProposesConcurrently: the proposals of a batch of alerts on different series
// are made at the same time (so the store can write them in shared transactions), while the
// alerts of one series keep their order: firing then resolved is one firing and a resolved
// series.
func TestAlertBatchProposesConcurrently(t *testing.T) {
	ctx := context.Background()
	var (
		mu       sync.Mutex
		inFlight int
		most     int
		fired    = map[string]int{}
		barrier  = make(chan struct{})
		once     sync.Once
	)
	e, err := NewEngine(EngineOptions{
		Store: store.NewMemory(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Registerer: prometheus.NewRegistry(),
		Now: func() time.Time { return t0 },
		OnFire: func(_ context.Context, f Firing) error {
			mu.Lock()
			inFlight++
			most = max(most, inFlight)
			fired[f.Labels["instance"]]++
			if inFlight == 4 {
				once.Do(func() { close(barrier) })
			}
			mu.Unlock()
			// Each proposal waits until four are being made at once; made one after another
			// they would wait out the deadline.
			select {
			case <-barrier:
			case <-time.After(10 * time.Second):
			}
			mu.Lock()
			inFlight--
			mu.Unlock()
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.SetRules(parseRules(t, scaleOnAlertRule))
	var batch []Alert
	for i := range 40 {
		batch = append(batch, Alert{Labels: map[string]string{"alertname": "HostHighCpu", "instance": fmt.Sprint("i-", i)},
			Status: "firing", StartsAt: t0, Fingerprint: fmt.Sprint(i)})
	}
	// i-0 fires and resolves within the batch: in that order.
	batch = append(batch, Alert{Labels: map[string]string{"alertname": "HostHighCpu", "instance": "i-0"}, Status: "resolved",
		StartsAt: t0, EndsAt: t0, Fingerprint: "0"})
	if err := e.OnAlerts(ctx, batch); err != nil {
		t.Fatal(err)
	}
	if most < 4 {
		t.Errorf("at most %d proposals were made at once, want at least 4", most)
	}
	if len(fired) != 40 {
		t.Errorf("%d series fired, want 40", len(fired))
	}
	for inst, n := range fired {
		if n != 1 {
			t.Errorf("%s fired %d times, want once", inst, n)
		}
	}
	for _, s := range e.State("on-alert") {
		if want := PhaseFiring; s.Labels["instance"] == "i-0" && s.State != PhaseResolved || s.Labels["instance"] != "i-0" && s.State != want {
			t.Errorf("%s is %s after the batch", s.Labels["instance"], s.State)
		}
	}
}

// stateWatch records whether the rules' state was written.
type stateWatch struct {
	store.Store
	wrote bool
}

func (s *stateWatch) Txn(ctx context.Context, cmps []store.Cmp, ops []store.Op) (uint64, error) {
	s.wrote = true
	return s.Store.Txn(ctx, cmps, ops)
}

// TestBeforeCommitRunsBeforeTheStateIsWritten: what a caller records of a batch's proposals is
// recorded before the rules' state says they were made, so a crash in between makes them again.
func TestBeforeCommitRunsBeforeTheStateIsWritten(t *testing.T) {
	st := &stateWatch{Store: store.NewMemory()}
	f := newFixture(t, st, parseRules(t, scaleOnAlertRule))
	called := false
	err := f.e.OnAlertsThen(context.Background(), []Alert{{Labels: map[string]string{"alertname": "HostHighCpu", "instance": "i-1"},
		Status: "firing", StartsAt: t0}}, func(context.Context) {
		called = true
		if st.wrote {
			t.Error("the rules' state was written before the caller recorded the proposals")
		}
		if len(f.rec.take()) != 1 {
			t.Error("the proposal was not made before beforeCommit")
		}
	})
	if err != nil || !called || !st.wrote {
		t.Fatalf("OnAlertsThen: %v; beforeCommit called %v, state written %v", err, called, st.wrote)
	}
}
