package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/smartcloudops/smartcloudops/internal/store"
)

func filled(t *testing.T, n int) (*Log, *store.Memory) {
	t.Helper()
	st := store.NewMemory()
	l, err := New(Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := l.Append(context.Background(), Record{Kind: "proposal.created", Proposal: fmt.Sprintf("p-%d", i), User: "console:alice"}); err != nil {
			t.Fatal(err)
		}
	}
	return l, st
}

func TestVerifyIntact(t *testing.T) {
	l, _ := filled(t, 5)
	n, err := l.Verify(context.Background())
	if err != nil || n != 5 {
		t.Fatalf("Verify = %d, %v", n, err)
	}
	recs, _ := l.List(context.Background(), Filter{Proposal: "p-3"})
	if len(recs) != 1 || recs[0].Seq != 4 {
		t.Fatalf("List filter: %+v", recs)
	}
}

func TestVerifyDetectsTampering(t *testing.T) {
	ctx := context.Background()
	edit := func(st *store.Memory, seq uint64, fn func(*Record)) {
		kv, _ := st.Get(ctx, recordKey(seq))
		var r Record
		json.Unmarshal(kv.Value, &r)
		fn(&r)
		b, _ := json.Marshal(r)
		st.Put(ctx, recordKey(seq), b)
	}
	cases := map[string]struct {
		tamper func(st *store.Memory)
		want   string
	}{
		"edited field":    {func(st *store.Memory) { edit(st, 2, func(r *Record) { r.User = "console:mallory" }) }, "record 2 was altered"},
		"edited + rehash": {func(st *store.Memory) { edit(st, 2, func(r *Record) { r.Outcome = "ok"; r.Hash = hashOf(*r) }) }, "record 3 does not follow"},
		"removed middle":  {func(st *store.Memory) { st.Delete(ctx, recordKey(3)) }, "record 3 is missing"},
		"removed last":    {func(st *store.Memory) { st.Delete(ctx, recordKey(5)) }, "head names record 5"},
		"removed head":    {func(st *store.Memory) { st.Delete(ctx, headKey) }, "head is missing"},
		"garbage":         {func(st *store.Memory) { st.Put(ctx, recordKey(1), []byte("{")) }, "not valid JSON"},
		"moved":           {func(st *store.Memory) { kv, _ := st.Get(ctx, recordKey(5)); st.Put(ctx, recordKey(6), kv.Value) }, "claims seq 5"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			l, st := filled(t, 5)
			c.tamper(st)
			_, err := l.Verify(ctx)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Verify = %v, want %q", err, c.want)
			}
		})
	}
}

func TestConcurrentAppendsChain(t *testing.T) {
	l, _ := filled(t, 0)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := l.Append(context.Background(), Record{Kind: "x", Detail: fmt.Sprint(i)}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n, err := l.Verify(context.Background()); err != nil || n != 20 {
		t.Fatalf("Verify = %d, %v", n, err)
	}
}
