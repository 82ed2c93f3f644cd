package alertmanager

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/internal/store"
)

// countingStore counts transactions.
type countingStore struct {
	store.Store
	txns atomic.Int64
	// first, when set, runs before the first transaction.
	first func()
}

func (c *countingStore) Txn(ctx context.Context, cmps []store.Cmp, ops []store.Op) (uint64, error) {
	if c.txns.Add(1) == 1 && c.first != nil {
		c.first()
	}
	return c.Store.Txn(ctx, cmps, ops)
}

func msg(group string, alerts ...string) *Message {
	m := &Message{Version: "4", GroupKey: group, Status: StatusFiring, Receiver: "bot"}
	for _, a := range alerts {
		m.Alerts = append(m.Alerts, Alert{Status: StatusFiring, Labels: map[string]string{"alertname": a}, Fingerprint: a,
			StartsAt: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)})
	}
	return m
}

func newTestIntake(t *testing.T, st store.Store, o IntakeOptions) *Intake {
	t.Helper()
	o.Store, o.Logger, o.Registerer = st, obs.Discard(), prometheus.NewRegistry()
	in, err := NewIntake(o)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// TestAcceptIsDurableAndShared: an accepted notification is in the store when Accept returns,
// and notifications accepted at once share transactions.
func TestAcceptIsDurableAndShared(t *testing.T) {
	ctx := context.Background()
	st := &countingStore{Store: store.NewMemory().WithEtcdLimits()}
	in := newTestIntake(t, st, IntakeOptions{})
	const n = 300
	// The first commit is held until every other notification is waiting behind it, as happens
	// when a burst arrives during a slow fsync; they must then share the next transactions.
	st.first = func() {
		deadline := time.Now().Add(30 * time.Second)
		for {
			in.qmu.Lock()
			queued := len(in.queue)
			in.qmu.Unlock()
			if queued == n-1 || time.Now().After(deadline) {
				return
			}
			time.Sleep(time.Millisecond)
		}
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := in.Accept(ctx, msg(fmt.Sprintf("g%03d", i), fmt.Sprintf("a%03d", i))); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	kvs, _ := st.List(ctx, inboxPrefix)
	if len(kvs) != n {
		t.Fatalf("%d notifications stored, want %d", len(kvs), n)
	}
	// One for the first, then 299 entries in transactions of at most 128 operations.
	if txns, want := st.txns.Load(), int64(1+(n-1+store.MaxTxnOps-1)/store.MaxTxnOps); txns != want {
		t.Errorf("%d transactions for %d notifications accepted at once, want %d", txns, n, want)
	}
}

// TestRunProcessesInOrderOnceAndRetries: entries are processed oldest first within a group,
// deleted once processed, and processed again when a round fails; a new entry wakes an idle
// processor.
func TestRunProcessesInOrderOnceAndRetries(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st := store.NewMemory().WithEtcdLimits()
	in := newTestIntake(t, st, IntakeOptions{Batch: 7, Workers: 3})
	for i := range 40 {
		if err := in.Accept(ctx, msg(fmt.Sprintf("g%d", i%4), fmt.Sprintf("a%02d", i))); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	seen := map[string][]string{} // group → alerts in processing order
	keys := map[string]int{}
	failOnce := atomic.Bool{}
	failOnce.Store(true)
	done := make(chan struct{})
	go func() {
		defer close(done)
		in.Run(ctx, func(_ context.Context, es []Entry) error {
			mu.Lock()
			defer mu.Unlock()
			if failOnce.CompareAndSwap(true, false) {
				return errors.New("store down")
			}
			for _, e := range es {
				keys[e.Key]++
				seen[e.Message.GroupKey] = append(seen[e.Message.GroupKey], e.Message.Alerts[0].Fingerprint)
			}
			return nil
		})
	}()
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("waited for %s", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, v := range seen {
			n += len(v)
		}
		return n
	}
	waitFor("40 notifications processed", func() bool { return count() == 40 })
	if err := in.Accept(ctx, msg("g9", "late")); err != nil {
		t.Fatal(err)
	}
	waitFor("the late notification", func() bool { return count() == 41 })
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	for g, as := range seen {
		if !slices.IsSorted(as) {
			t.Errorf("group %s processed out of order: %v", g, as)
		}
	}
	for k, n := range keys {
		if n != 1 {
			t.Errorf("%s processed %d times after its round succeeded", k, n)
		}
	}
	if kvs, _ := st.List(context.Background(), inboxPrefix); len(kvs) != 0 {
		t.Errorf("%d processed notifications left in the store", len(kvs))
	}
}

// TestAcceptRefusesAboveHighWater: above the high-water mark Accept answers ErrBusy and stores
// nothing, so Alertmanager retries instead of the bot queueing without bound.
func TestAcceptRefusesAboveHighWater(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	in := newTestIntake(t, st, IntakeOptions{HighWater: 3})
	for i := range 3 {
		if err := in.Accept(ctx, msg("g", fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := in.Accept(ctx, msg("g", "x")); !errors.Is(err, ErrBusy) {
		t.Fatalf("the 4th notification: %v, want ErrBusy", err)
	}
	if kvs, _ := st.List(ctx, inboxPrefix); len(kvs) != 3 {
		t.Fatalf("%d stored, want 3", len(kvs))
	}
}

// TestLargeNotificationIsSplit: a notification too large for one value is stored as several
// entries, each with some of its alerts and all of its group.
func TestLargeNotificationIsSplit(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory().WithEtcdLimits()
	in := newTestIntake(t, st, IntakeOptions{})
	m := msg("big")
	for i := range 3000 {
		m.Alerts = append(m.Alerts, Alert{Status: StatusFiring, Fingerprint: fmt.Sprintf("f%04d", i),
			Labels: map[string]string{"alertname": "Big", "instance": strings.Repeat("x", 200) + fmt.Sprint(i)}})
	}
	if err := in.Accept(ctx, m); err != nil {
		t.Fatal(err)
	}
	kvs, _ := st.List(ctx, inboxPrefix)
	if len(kvs) < 2 {
		t.Fatalf("%d entries, want the notification split", len(kvs))
	}
	total := 0
	for _, kv := range kvs {
		if len(kv.Value) > maxEntryBytes {
			t.Errorf("an entry of %d bytes", len(kv.Value))
		}
		total += strings.Count(string(kv.Value), `"fingerprint"`)
	}
	if total != 3000 {
		t.Fatalf("%d alerts stored, want 3000", total)
	}
}

// TestRoundTakesAcceptedMessagesFromMemory: a round takes the notifications this process
// accepted while processing as they were parsed, rather than decoding what it reads back; those
// another process accepted are decoded from the store; processed ones are not kept.
func TestRoundTakesAcceptedMessagesFromMemory(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory().WithEtcdLimits()
	before := newTestIntake(t, st, IntakeOptions{}) // a replica, or the process before a restart
	in := newTestIntake(t, st, IntakeOptions{Workers: 2})
	in.running.Store(true) // as Run does
	for i := range 6 {
		accept := before.Accept
		if i >= 3 {
			accept = in.Accept
		}
		if err := accept(ctx, msg(fmt.Sprintf("g%d", i), fmt.Sprintf("a%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	kvs, err := st.List(ctx, inboxPrefix)
	if err != nil || len(kvs) != 6 {
		t.Fatalf("stored entries: %d %v", len(kvs), err)
	}
	for i := 3; i < 6; i++ {
		kvs[i].Value = []byte("{}") // not decoded when the message is at hand
	}
	var mu sync.Mutex
	var got []string
	err = in.round(ctx, kvs, func(_ context.Context, es []Entry) error {
		mu.Lock()
		defer mu.Unlock()
		for _, e := range es {
			got = append(got, e.Message.GroupKey)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if want := []string{"g0", "g1", "g2", "g3", "g4", "g5"}; !slices.Equal(got, want) {
		t.Fatalf("the round saw groups %v, want %v", got, want)
	}
	if left, _ := st.List(ctx, inboxPrefix); len(left) != 0 {
		t.Fatalf("%d processed entries left in the store", len(left))
	}
	in.hmu.Lock()
	held := len(in.held)
	in.hmu.Unlock()
	if held != 0 {
		t.Fatalf("%d processed messages still held", held)
	}
}
