package remediation

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smartcloudops/smartcloudops/internal/store"
)

// startAction records when Execute was entered, for the approval-to-start latency.
type startAction struct {
	countingAction
	started sync.Map // proposal group → time
}

func (a *startAction) Execute(ctx context.Context, p Params) (Result, error) {
	a.started.Store(p.String("group"), time.Now())
	return a.countingAction.Execute(ctx, p)
}

// BenchmarkApprovalToActionStart measures the time from an approval arriving to the action
// starting, on the bbolt store (every transition and audit record is a committed write).
func BenchmarkApprovalToActionStart(b *testing.B) {
	st, err := store.OpenBolt(filepath.Join(b.TempDir(), "b.db"), store.BoltOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	act := &startAction{}
	mg, err := newBenchManager(st, act)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	ids := make([]string, b.N)
	for i := range ids {
		p, err := mg.Propose(ctx, Request{Action: "test.scale", Params: map[string]any{"group": fmt.Sprint("g", i)}, Requester: rule, Policy: Policy{Roles: []string{"sre"}}})
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = p.ID
	}
	lat := make([]time.Duration, b.N)
	b.ResetTimer()
	for i, id := range ids {
		t0 := time.Now()
		if _, err := mg.Approve(ctx, id, alice); err != nil {
			b.Fatal(err)
		}
		v, _ := act.started.Load(fmt.Sprint("g", i))
		lat[i] = v.(time.Time).Sub(t0)
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

func newBenchManager(st store.Store, act Action) (*Manager, error) {
	f := newFixtureOptions(st)
	f.Actions = func(n string) (Action, bool) { return act, n == "test.scale" }
	return New(f)
}

// TestThousandConcurrentProposals approves 1,000 proposals at once, each by two racing approvers
// and a duplicate click: every one runs exactly once and none is lost.
func TestThousandConcurrentProposals(t *testing.T) {
	st := store.NewMemory()
	var runs sync.Map
	var total atomic.Int32
	act := &funcAction{exec: func(p Params) {
		total.Add(1)
		n, _ := runs.LoadOrStore(p.String("group"), new(atomic.Int32))
		n.(*atomic.Int32).Add(1)
	}}
	o := newFixtureOptions(st)
	o.MaxPerHour = 0
	o.Actions = func(n string) (Action, bool) { return act, n == "test.scale" }
	mg, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const n = 1000
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := mg.Propose(ctx, Request{Action: "test.scale", Params: map[string]any{"group": fmt.Sprint("g", i)}, Requester: rule, Policy: Policy{Roles: []string{"sre"}}})
			if err != nil {
				t.Error(err)
				return
			}
			ids[i] = p.ID
		}()
	}
	wg.Wait()
	for _, id := range ids {
		for _, who := range []Actor{alice, bob, alice} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				mg.Approve(ctx, id, who)
			}()
		}
	}
	wg.Wait()
	if total.Load() != n {
		t.Fatalf("%d executions for %d proposals", total.Load(), n)
	}
	runs.Range(func(k, v any) bool {
		if c := v.(*atomic.Int32).Load(); c != 1 {
			t.Errorf("%v ran %d times", k, c)
		}
		return true
	})
	done, _ := mg.List(ctx, StateSucceeded)
	if len(done) != n {
		t.Fatalf("%d proposals succeeded, want %d", len(done), n)
	}
}

// funcAction calls exec on every execution.
type funcAction struct {
	countingAction
	exec func(Params)
}

func (a *funcAction) Execute(_ context.Context, p Params) (Result, error) {
	a.exec(p)
	return Result{Summary: "ok"}, nil
}
