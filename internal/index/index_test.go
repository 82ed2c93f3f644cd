package index

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smartcloudops/smartcloudops/internal/store"
)

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func TestPosSortsNewestFirst(t *testing.T) {
	ordered := []string{
		Pos(time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC), "a"), // past 2262: as 2262
		Pos(t0.Add(time.Nanosecond), "z"),
		Pos(t0, "a"),
		Pos(t0, "b"), // the same time: by ID
		Pos(t0.Add(-time.Hour), "a"),
		Pos(time.Unix(0, 0), "a"),
		Pos(time.Time{}, "b"), // before 1970: as 1970
	}
	if !slices.IsSorted(ordered) {
		t.Fatalf("positions out of order: %q", ordered)
	}
	for _, p := range ordered {
		if !ValidPos(p) {
			t.Errorf("Pos made %q, which ValidPos refuses", p)
		}
	}
	if got := Pos(t0.In(time.FixedZone("x", 3600)), "a"); got != Pos(t0, "a") {
		t.Errorf("the zone moved the position: %q", got)
	}
}

func TestValidPos(t *testing.T) {
	ok := Pos(t0, "inc-0a1b2c3d")
	for _, c := range []struct {
		s    string
		want bool
	}{
		{ok, true},
		{"", false},
		{ok[:16], false}, // no ID
		{ok[:17], false}, // an empty ID
		{strings.ToUpper(ok[:16]) + ok[16:], false}, // upper-case digits
		{"0123456789abcdeg/x", false},
		{"0123456789abcdef-x", false},
		{"0123456789abcdef/a/b", false}, // a slash in the ID
		{"0123456789abcdef/a b", false},
		{"0123456789abcdef/a\x00", false},
		{"0123456789abcdef/" + strings.Repeat("x", maxIDLen), true},
		{"0123456789abcdef/" + strings.Repeat("x", maxIDLen+1), false},
	} {
		if got := ValidPos(c.s); got != c.want {
			t.Errorf("ValidPos(%q) = %v, want %v", c.s, got, c.want)
		}
	}
}

var (
	timeOnly  = Index{Items: "things/", Time: "idx/time/", Marker: "idx/version"}
	withState = Index{Items: "things/", Time: "idx/time/", State: "idx/state/", Marker: "idx/version"}
)

func TestOps(t *testing.T) {
	e := Entry{ID: "a", At: t0, State: "open"}
	moved := Entry{ID: "a", At: t0, State: "closed"}
	pos := Pos(t0, "a")
	show := func(ops []store.Op) string {
		var out []string
		for _, op := range ops {
			if op.Delete {
				out = append(out, "-"+op.Key)
			} else {
				out = append(out, "+"+op.Key+"="+string(op.Value))
			}
		}
		return strings.Join(out, " ")
	}
	for _, c := range []struct {
		name     string
		x        Index
		old, cur *Entry
		want     string
	}{
		{"create", timeOnly, nil, &e, "+idx/time/" + pos + "=open"},
		{"create with state", withState, nil, &e, "+idx/time/" + pos + "=open +idx/state/open/" + pos + "=open"},
		{"delete", withState, &e, nil, "-idx/time/" + pos + " -idx/state/open/" + pos},
		{"no change", withState, &e, &e, ""},
		{"state change", timeOnly, &e, &moved, "+idx/time/" + pos + "=closed"},
		{"state change with state", withState, &e, &moved, "+idx/time/" + pos + "=closed -idx/state/open/" + pos + " +idx/state/closed/" + pos + "=closed"},
		{"nothing", withState, nil, nil, ""},
	} {
		if got := show(c.x.Ops(c.old, c.cur)); got != c.want {
			t.Errorf("%s: %s\nwant %s", c.name, got, c.want)
		}
	}
}

// thing is an item of the tests: a JSON-free value "state" under things/<id>.
type thing struct {
	id, state string
}

// put stores a thing with its index entries, as an owner of an index does.
func put(t *testing.T, st store.Store, x Index, id, state string, at time.Time, old *Entry) {
	t.Helper()
	e := &Entry{ID: id, At: at, State: state}
	ops := append([]store.Op{{Key: x.Items + id, Value: []byte(state)}}, x.Ops(old, e)...)
	if _, err := st.Txn(context.Background(), nil, ops); err != nil {
		t.Fatal(err)
	}
}

func loader(st store.Store, x Index, loads *atomic.Int64) func(context.Context, string) (thing, bool, error) {
	return func(ctx context.Context, id string) (thing, bool, error) {
		loads.Add(1)
		kv, err := st.Get(ctx, x.Items+id)
		if errors.Is(err, store.ErrNotFound) {
			return thing{}, false, nil
		}
		return thing{id, string(kv.Value)}, err == nil, err
	}
}

// readAll follows pages of limit from the start and returns the IDs and how many pages it took.
func readAll(t *testing.T, st store.Store, x Index, states []string, limit int) ([]string, int) {
	t.Helper()
	var loads atomic.Int64
	var ids []string
	after := ""
	for n := 1; ; n++ {
		items, next, err := Read(context.Background(), st, x, Query{States: states, After: after, Limit: limit}, loader(st, x, &loads),
			func(th thing) bool { return len(states) == 0 || slices.Contains(states, th.state) })
		if err != nil {
			t.Fatal(err)
		}
		if len(items) > limit {
			t.Fatalf("a page of %d items, over the limit of %d", len(items), limit)
		}
		for _, it := range items {
			ids = append(ids, it.id)
		}
		if next == "" {
			return ids, n
		}
		if next <= after {
			t.Fatalf("the next position %q does not move past %q", next, after)
		}
		after = next
	}
}

func TestReadPagesInPositionOrder(t *testing.T) {
	for _, x := range []Index{timeOnly, withState} {
		st := store.NewMemory()
		var all, open []string
		for i := range 30 {
			id := fmt.Sprintf("t%02d", i)
			state := "closed"
			if i%3 == 0 {
				state = "open"
			}
			put(t, st, x, id, state, t0.Add(time.Duration(i/2)*time.Minute), nil) // pairs share a time
			all = append(all, id)
			if state == "open" {
				open = append(open, id)
			}
		}
		newest := func(ids []string) []string {
			out := slices.Clone(ids)
			slices.SortFunc(out, func(a, b string) int {
				var ia, ib int
				fmt.Sscanf(a, "t%d", &ia)
				fmt.Sscanf(b, "t%d", &ib)
				if ia/2 != ib/2 {
					return ib/2 - ia/2
				}
				return strings.Compare(a, b)
			})
			return out
		}
		for _, limit := range []int{1, 2, 7, 10, 29, 30, 31, 100} {
			if got, n := readAll(t, st, x, nil, limit); !slices.Equal(got, newest(all)) || n != max(1, (30+limit-1)/limit) {
				t.Errorf("state %q, limit %d: %v in %d pages\nwant %v", x.State, limit, got, n, newest(all))
			}
			if got, _ := readAll(t, st, x, []string{"open"}, limit); !slices.Equal(got, newest(open)) {
				t.Errorf("state %q, open, limit %d: %v, want %v", x.State, limit, got, newest(open))
			}
			if got, _ := readAll(t, st, x, []string{"open", "closed"}, limit); !slices.Equal(got, newest(all)) {
				t.Errorf("state %q, open and closed, limit %d: %v, want %v", x.State, limit, got, newest(all))
			}
		}
	}
}

// TestReadSkipsWhatItCannotTrust: entries of items gone or in another state than their entry
// says are passed over; an item met in two state indexes at once is taken once.
func TestReadSkipsWhatItCannotTrust(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	x := withState
	for i := range 5 {
		put(t, st, x, fmt.Sprintf("t%d", i), "open", t0.Add(time.Duration(i)*time.Minute), nil)
	}
	// t4's item is gone, its entries left behind; t3 says open in one index and closed in the
	// other (a reader between two writes sees no such thing, but a drifted index might).
	if err := st.Delete(ctx, "things/t4"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Put(ctx, x.State+"closed/"+Pos(t0.Add(3*time.Minute), "t3"), []byte("closed")); err != nil {
		t.Fatal(err)
	}
	if got, _ := readAll(t, st, x, []string{"open", "closed"}, 2); !slices.Equal(got, []string{"t3", "t2", "t1", "t0"}) {
		t.Fatalf("got %v", got)
	}
	if _, err := st.Put(ctx, "things/t2", []byte("closed")); err != nil { // its entries not moved
		t.Fatal(err)
	}
	if got, _ := readAll(t, st, x, []string{"open"}, 10); !slices.Equal(got, []string{"t3", "t1", "t0"}) {
		t.Fatalf("open: %v", got)
	}
}

// TestReadIsBounded: past ScanSlack skipped entries a page ends with what it has and a position
// to go on from; entries skipped by their value load no item.
func TestReadIsBounded(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	x := timeOnly
	put(t, st, x, "old-open", "open", t0.Add(-time.Hour), nil)
	var ops []store.Op
	for i := range ScanSlack + 10 {
		id := fmt.Sprintf("c%05d", i)
		e := &Entry{ID: id, At: t0.Add(time.Duration(i) * time.Second), State: "closed"}
		ops = append(ops, store.Op{Key: x.Items + id, Value: []byte("closed")})
		ops = append(ops, x.Ops(nil, e)...)
	}
	if _, err := store.WriteAll(ctx, st, ops); err != nil {
		t.Fatal(err)
	}
	var loads atomic.Int64
	keep := func(th thing) bool { return th.state == "open" }
	items, next, err := Read(ctx, st, x, Query{States: []string{"open"}, Limit: 5}, loader(st, x, &loads), keep)
	if err != nil || len(items) != 0 || next == "" || loads.Load() != 0 {
		t.Fatalf("first page: %v, next %q, %d loads, %v; want none, a next position and no loads", items, next, loads.Load(), err)
	}
	items, next, err = Read(ctx, st, x, Query{States: []string{"open"}, After: next, Limit: 5}, loader(st, x, &loads), keep)
	if err != nil || len(items) != 1 || items[0].id != "old-open" || next != "" || loads.Load() != 1 {
		t.Fatalf("second page: %v, next %q, %d loads, %v", items, next, loads.Load(), err)
	}
}

func TestReadRefusesBadQueries(t *testing.T) {
	st := store.NewMemory()
	var loads atomic.Int64
	for _, q := range []Query{{Limit: 0}, {Limit: 1, After: "nope"}} {
		if _, _, err := Read(context.Background(), st, timeOnly, q, loader(st, timeOnly, &loads), func(thing) bool { return true }); err == nil {
			t.Errorf("%+v: no error", q)
		}
	}
}
