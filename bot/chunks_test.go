package bot

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/smartcloudops/smartcloudops/internal/store"
)

// TestStormCardMembersInChunks: a card of 100,000 members is recorded within etcd's limits,
// its record and chunks read back whole and in order, and members that join later rewrite only
// the chunk they land in, with the record.
func TestStormCardMembersInChunks(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory().WithEtcdLimits()
	h := newHarnessOn(t, st, nil)
	tg := h.n.o.Targets[0]
	c := h.n.newCard(tg, "g-storm", recordKey("g-storm", tg), cardRecord{Key: "k", Channel: "#ops", Ref: Ref{Platform: "rec", Channel: "#ops", ID: "1"}})
	for i := range 100_000 {
		id := fmt.Sprintf("inc-%08x", i)
		c.rec.Members = append(c.rec.Members, id)
		c.fresh = append(c.fresh, id)
	}
	if err := h.n.record(ctx, c, false); err != nil {
		t.Fatalf("recording a card of 100,000 members: %v", err)
	}
	rec, ok, err := h.n.getRecord(ctx, c.rkey)
	if err != nil || !ok || !slices.Equal(rec.Members, c.rec.Members) {
		t.Fatalf("read back: %v %v, %d members, want the 100,000 in order", ok, err, len(rec.Members))
	}
	if got, ok, err := h.n.Members(ctx, "g-storm"); err != nil || !ok || len(got) != 100_000 {
		t.Fatalf("Members: %d, %v", len(got), err)
	}

	// One more member: the last chunk and the record are written, no other chunk.
	w := st.Watch(ctx, "cards/", 0)
	c.rec.Members = append(c.rec.Members, "inc-late")
	c.fresh = []string{"inc-late"}
	if err := h.n.record(ctx, c, false); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for len(keys) < 3 {
		resp := <-w
		for _, e := range resp.Events {
			keys = append(keys, e.KV.Key)
		}
	}
	last := chunkKey(c.rkey, 100_000/memberChunk)
	slices.Sort(keys)
	if want := []string{recordKey("inc-late", tg), c.rkey, last}; !slices.Equal(keys, sortedCopy(want)) {
		t.Fatalf("writes for one member joining: %v, want %v", keys, sortedCopy(want))
	}
	rec, _, err = h.n.getRecord(ctx, c.rkey)
	if err != nil || len(rec.Members) != 100_001 || rec.Members[100_000] != "inc-late" {
		t.Fatalf("after the late member: %d members, %v", len(rec.Members), err)
	}
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}
