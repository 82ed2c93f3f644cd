package detector_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smartcloudops/smartcloudops/detector"
	"github.com/smartcloudops/smartcloudops/internal/config"
	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/internal/store"
)

// recordingStore records the transactions written through it and can fail them or run a hook
// after each.
type recordingStore struct {
	store.Store
	mu       sync.Mutex
	txns     [][]store.Op
	attempts int                       // transactions tried, failed or not
	fail     int                       // transactions still to fail
	after    func(ctx context.Context) // called after each transaction that applied
}

func (r *recordingStore) Txn(ctx context.Context, cmps []store.Cmp, ops []store.Op) (uint64, error) {
	r.mu.Lock()
	r.attempts++
	if r.fail > 0 {
		r.fail--
		r.mu.Unlock()
		return 0, errors.New("store unavailable")
	}
	r.txns = append(r.txns, slices.Clone(ops))
	after := r.after
	r.mu.Unlock()
	rev, err := r.Store.Txn(ctx, cmps, ops)
	if after != nil {
		after(ctx)
	}
	return rev, err
}

// puts returns the keys put since the last call.
func (r *recordingStore) puts() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var keys []string
	for _, txn := range r.txns {
		for _, op := range txn {
			if !op.Delete {
				keys = append(keys, op.Key)
			}
		}
	}
	r.txns = nil
	return keys
}

// hosts is one point at minute i of value v for each of n series host-0 … host-n-1.
func hosts(n, i int, v func(host int) float64) []detector.Series {
	out := make([]detector.Series, n)
	for h := range out {
		out[h] = detector.Series{Labels: map[string]string{"host": fmt.Sprint("host-", h)}, Points: flat(i, 1, v(h))}
	}
	return out
}

// clockDetector is a detector of check cpu on @every 15s whose clock the test moves.
func clockDetector(t *testing.T, src detector.Source, st store.Store, now *time.Time, onTick func(context.Context, detector.Tick)) *detector.Detector {
	t.Helper()
	sched, _ := config.ParseSchedule("@every 15s")
	d, err := detector.New(detector.Options{
		Checks: []detector.CheckSpec{{Name: "cpu", Source: src, Schedule: sched, Threshold: threshold,
			Factory: func() detector.Model { return &meanModel{} }}},
		OnTick: onTick, Store: st, LoadModel: loadMean,
		Logger: obs.Discard(), Registerer: prometheus.NewRegistry(), Now: func() time.Time { return *now },
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestSavesAreSpreadOverTheInterval: with a save interval of a minute and a tick every 15
// seconds, each tick writes a quarter of the series, the longest unsaved, and every series is
// written once a minute.
func TestSavesAreSpreadOverTheInterval(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	rs := &recordingStore{Store: store.NewMemory()}
	i := 0
	src := detector.SourceFunc(func(context.Context, time.Time) ([]detector.Series, error) {
		i++
		return hosts(60, i, func(int) float64 { return 40 }), nil
	})
	d := clockDetector(t, src, rs, &now, nil)
	written := map[string]int{}
	for tick := range 12 {
		if _, err := d.Tick(ctx, "cpu"); err != nil {
			t.Fatal(err)
		}
		puts := rs.puts()
		if len(puts) != 15 {
			t.Fatalf("tick %d wrote %d series, want 15 (a quarter of 60)", tick, len(puts))
		}
		for _, k := range puts {
			written[k]++
		}
		now = now.Add(15 * time.Second)
	}
	if len(written) != 60 {
		t.Fatalf("%d series written in three minutes, want all 60", len(written))
	}
	for k, n := range written {
		if n != 3 {
			t.Fatalf("%s written %d times in three minutes, want 3", k, n)
		}
	}
}

// TestEpisodeIsSavedBeforeItIsReported: a series whose episode opens is written before the tick
// reports it, alone, whatever its periodic save; the others wait for theirs.
func TestEpisodeIsSavedBeforeItIsReported(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	mem := store.NewMemory()
	rs := &recordingStore{Store: mem}
	i := 0
	src := detector.SourceFunc(func(context.Context, time.Time) ([]detector.Series, error) {
		i++
		return hosts(8, i, func(h int) float64 {
			if h == 3 && i > 30 {
				return 400
			}
			return 40
		}), nil
	})
	var reported []time.Time
	d := clockDetector(t, src, rs, &now, func(_ context.Context, tk detector.Tick) {
		for _, e := range tk.Events {
			if e.Anomaly == nil || !e.Anomaly.Opened {
				continue
			}
			kvs, err := mem.List(ctx, "detector/state/cpu/")
			if err != nil {
				t.Fatal(err)
			}
			for _, kv := range kvs {
				if since, err := detector.SavedSince(kv.Value); err == nil && since.Equal(e.Anomaly.Since) {
					reported = append(reported, since)
				}
			}
		}
	})
	for range 30 {
		if _, err := d.Tick(ctx, "cpu"); err != nil {
			t.Fatal(err)
		}
		now = now.Add(5 * time.Second) // a third of the interval: no series is due for a while
	}
	rs.puts()
	if _, err := d.Tick(ctx, "cpu"); err != nil {
		t.Fatal(err)
	}
	if len(reported) != 1 {
		t.Fatalf("the opened episode was reported %d times with its state stored, want once", len(reported))
	}
	if puts := rs.puts(); len(puts) != 1 {
		t.Fatalf("the tick that opened an episode wrote %d series, want only the one whose episode moved", len(puts))
	}
}

// TestFailedSaveIsWrittenLater: state whose write failed stays to be written.
func TestFailedSaveIsWrittenLater(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	rs := &recordingStore{Store: store.NewMemory(), fail: 1}
	d := clockDetector(t, &queue{batches: [][]detector.Series{hosts(4, 0, func(int) float64 { return 40 })}}, rs, &now, nil)
	if _, err := d.Tick(ctx, "cpu"); err != nil {
		t.Fatal(err)
	}
	if puts := rs.puts(); len(puts) != 0 {
		t.Fatalf("%d written through a failing store", len(puts))
	}
	d.SaveState(ctx)
	if puts := rs.puts(); len(puts) != 4 {
		t.Fatalf("SaveState wrote %d series after a failed save, want the 4", len(puts))
	}
	d.SaveState(ctx)
	if puts := rs.puts(); len(puts) != 0 {
		t.Fatalf("SaveState wrote %d series that had not changed", len(puts))
	}
}

// TestSaveStateWritesEpisodesFirst: SaveState writes the series whose episode moved before the
// others, a transaction at a time, and stops when its context ends.
func TestSaveStateWritesEpisodesFirst(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	mem := store.NewMemory()
	rs := &recordingStore{Store: mem, fail: 1 << 30} // the store is down while the series learn
	const n = 300
	i := 0
	src := detector.SourceFunc(func(context.Context, time.Time) ([]detector.Series, error) {
		i++
		return hosts(n, i, func(h int) float64 {
			if h == n-1 && i == 30 {
				return 400
			}
			return 40
		}), nil
	})
	d := clockDetector(t, src, rs, &now, nil)
	for range 30 {
		if _, err := d.Tick(ctx, "cpu"); err != nil {
			t.Fatal(err)
		}
		now = now.Add(15 * time.Second)
	}
	if st := d.Status()[0]; st.Anomalous != 1 {
		t.Fatalf("%+v: want one series in an episode", st)
	}
	rs.mu.Lock()
	rs.fail, rs.txns = 0, nil
	rs.after = func(context.Context) { cancel() } // the first transaction uses up the time
	rs.mu.Unlock()
	d.SaveState(ctx)
	rs.mu.Lock()
	txns := rs.txns
	rs.mu.Unlock()
	if len(txns) != 1 || !strings.HasSuffix(txns[0][0].Key, detector.Fingerprint(map[string]string{"host": fmt.Sprint("host-", n-1)})) {
		t.Fatalf("%d transactions; want one, starting with the series in an episode", len(txns))
	}
}

// TestOldJSONRecordLoads: state saved by the previous release, a JSON record with the model in
// base64, restores the series with its open episode, which then ends; the next save rewrites
// it in the binary format.
func TestOldJSONRecordLoads(t *testing.T) {
	ctx := context.Background()
	mem := store.NewMemory()
	const key = "detector/state/cpu/1f5b63e5c72a4959"
	old := `{"labels":{"asg":"web-asg","host":"a"},"last_t":"2026-11-01T01:41:00Z","since":"2026-11-01T01:40:00Z",` +
		`"episode":{"since":"2026-11-01T01:40:00Z","expected":40,"lower":30,"upper":50,"peak":1,"peak_value":400,"models":["mean"]},` +
		`"model":"eyJuIjoxMDIsInN1bSI6NDgwMH0="}`
	if _, err := mem.Put(ctx, key, []byte(old)); err != nil {
		t.Fatal(err)
	}
	var rec []detector.Recovery
	d := newDetector(t, &queue{batches: [][]detector.Series{hostA(flat(102, 5, 40))}}, mem, nil, &rec)
	if _, err := d.Tick(ctx, "cpu"); err != nil {
		t.Fatal(err)
	}
	want := time.Date(2026, 11, 1, 1, 40, 0, 0, time.UTC)
	if len(rec) != 1 || !rec[0].Since.Equal(want) || rec[0].Labels["host"] != "a" {
		t.Fatalf("recoveries %+v, want the episode stored since %v to end", rec, want)
	}
	if n := storedPoints(t, mem); n != 107 {
		t.Fatalf("the restored model has learnt %d points, want 102 before and 5 after", n)
	}
	kv, err := mem.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.HasPrefix(kv.Value, []byte("{")) || len(kv.Value) >= len(old) {
		t.Fatalf("record still JSON or no smaller (%d bytes, was %d): %q", len(kv.Value), len(old), kv.Value)
	}
	labels, _, err := detector.SavedModel(kv.Value)
	if err != nil || !maps.Equal(labels, map[string]string{"asg": "web-asg", "host": "a"}) {
		t.Fatalf("rewritten record: labels %v, %v", labels, err)
	}
}

// TestFailedEpisodeSaveIsRetriedAtTheNextTick: a series whose episode opened, and whose write
// failed, is written at the next tick, not a save interval later.
func TestFailedEpisodeSaveIsRetriedAtTheNextTick(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	rs := &recordingStore{Store: store.NewMemory()}
	i := 0
	src := detector.SourceFunc(func(context.Context, time.Time) ([]detector.Series, error) {
		i++
		return hosts(1, i, func(int) float64 {
			if i > 30 {
				return 400
			}
			return 40
		}), nil
	})
	d := clockDetector(t, src, rs, &now, nil)
	for range 30 {
		if _, err := d.Tick(ctx, "cpu"); err != nil {
			t.Fatal(err)
		}
		now = now.Add(time.Second)
	}
	rs.puts()
	rs.mu.Lock()
	rs.fail = 1
	rs.mu.Unlock()
	if _, err := d.Tick(ctx, "cpu"); err != nil { // the episode opens; its write fails
		t.Fatal(err)
	}
	now = now.Add(time.Second)
	if _, err := d.Tick(ctx, "cpu"); err != nil {
		t.Fatal(err)
	}
	if puts := rs.puts(); len(puts) != 1 {
		t.Fatalf("%d series written at the tick after a failed write of an opened episode, want 1", len(puts))
	}
}

// TestSaveStopsAtTheFirstFailedWrite: a store that fails is not sent the rest of a save, one
// failing transaction (and one warning) after another; what was not written stays to be.
func TestSaveStopsAtTheFirstFailedWrite(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	rs := &recordingStore{Store: store.NewMemory(), fail: 1 << 30}
	d := clockDetector(t, &queue{batches: [][]detector.Series{hosts(1000, 0, func(int) float64 { return 40 })}}, rs, &now, nil)
	if _, err := d.Tick(ctx, "cpu"); err != nil {
		t.Fatal(err)
	}
	d.SaveState(ctx)
	rs.mu.Lock()
	attempts := rs.attempts
	rs.fail = 0
	rs.mu.Unlock()
	if attempts != 2 { // the tick's share, then SaveState
		t.Fatalf("%d transactions tried against a failing store, want one per save", attempts)
	}
	d.SaveState(ctx)
	if puts := rs.puts(); len(puts) != 1000 {
		t.Fatalf("%d series written once the store answered, want 1000", len(puts))
	}
}
