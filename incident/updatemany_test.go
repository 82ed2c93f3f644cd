package incident

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smartcloudops/smartcloudops/internal/store"
)

// txnCounter counts transactions and, once, writes one key behind the caller's back before the
// next transaction, as another writer would.
type txnCounter struct {
	store.Store
	txns  atomic.Int64
	race  func()
	raced atomic.Bool
}

func (c *txnCounter) Txn(ctx context.Context, cmps []store.Cmp, ops []store.Op) (uint64, error) {
	if len(cmps) > 1 && c.race != nil && c.raced.CompareAndSwap(false, true) {
		c.race()
	}
	c.txns.Add(1)
	return c.Store.Txn(ctx, cmps, ops)
}

// TestUpdateManySharesTransactions: 300 incidents updated at once cost a few transactions of at
// most etcd's size, not one each; an unknown ID is reported; an incident written by someone else
// between the read and the write is updated again on its own, keeping both changes.
func TestUpdateManySharesTransactions(t *testing.T) {
	ctx := context.Background()
	st := &txnCounter{Store: store.NewMemory().WithEtcdLimits()}
	m, err := New(Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	var ids []string
	for i := range 300 {
		a := anomaly(97, t0)
		a.Labels = map[string]string{"host": fmt.Sprint(i)}
		inc, _, err := m.FromAnomaly(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, inc.ID)
	}
	// Someone else records a chart on the first incident just before the first shared write.
	st.race = func() {
		if _, err := m.modifyUnlocked(ctx, ids[0], func(inc *Incident) { inc.ChartPath = "/charts/x.png" }); err != nil {
			t.Error(err)
		}
	}
	fns := map[string]func(*Incident){"inc-nosuch": func(*Incident) {}}
	for i, id := range ids {
		fns[id] = func(inc *Incident) { inc.Proposals = append(inc.Proposals, fmt.Sprint("p-", i)) }
	}
	before := st.txns.Load()
	failed, err := m.UpdateMany(ctx, fns)
	if !slices.Equal(failed, []string{"inc-nosuch"}) || err == nil {
		t.Fatalf("UpdateMany failed %v (%v), want only the unknown incident", failed, err)
	}
	// The other writer's one, three shared transactions and, if the first batch held the raced
	// incident, its 127 written again one by one.
	if n := st.txns.Load() - before; n > 1+3+127 {
		t.Errorf("%d transactions for 300 updates", n)
	}
	for i, id := range ids {
		inc := stored(t, st, id)
		if !slices.Equal(inc.Proposals, []string{fmt.Sprint("p-", i)}) {
			t.Fatalf("%s: proposals %v", id, inc.Proposals)
		}
	}
	if inc := stored(t, st, ids[0]); inc.ChartPath != "/charts/x.png" {
		t.Errorf("the other writer's change was lost: %+v", inc)
	}
}
