package remediation

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smartcloudops/smartcloudops/internal/index"
	"github.com/smartcloudops/smartcloudops/internal/store"
)

// proposalEntries returns the index's keys with the state each records.
func proposalEntries(t *testing.T, st store.Store) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, p := range []string{propIndex.Time, propIndex.State} {
		kvs, err := st.List(context.Background(), p)
		if err != nil {
			t.Fatal(err)
		}
		for _, kv := range kvs {
			out[kv.Key] = string(kv.Value)
		}
	}
	return out
}

// wantEntries are the index entries of ps.
func wantEntries(ps []Proposal) map[string]string {
	out := map[string]string{}
	for _, p := range ps {
		pos := index.Pos(p.CreatedAt, p.ID)
		out[propIndex.Time+pos] = string(p.State)
		out[propIndex.State+string(p.State)+"/"+pos] = string(p.State)
	}
	return out
}

func newestProposals(ps []Proposal) []string {
	ps = slices.Clone(ps)
	slices.SortFunc(ps, func(a, b Proposal) int {
		return strings.Compare(index.Pos(a.CreatedAt, a.ID), index.Pos(b.CreatedAt, b.ID))
	})
	ids := make([]string, len(ps))
	for i, p := range ps {
		ids[i] = p.ID
	}
	return ids
}

func proposalPages(t *testing.T, mg *Manager, states []State, limit int) []string {
	t.Helper()
	var ids []string
	after := ""
	for range 1000 {
		pg, err := mg.ListPage(context.Background(), PageQuery{States: states, After: after, Limit: limit})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pg.Proposals {
			ids = append(ids, p.ID)
		}
		if pg.Next == "" {
			return ids
		}
		after = pg.Next
	}
	t.Fatal("ListPage never ended")
	return nil
}

// proposeN makes n proposals, two at each time.
func proposeN(t *testing.T, f *fixture, n int) []Proposal {
	t.Helper()
	var out []Proposal
	for i := range n {
		p, err := f.mg.Propose(context.Background(), Request{Action: "test.scale", Params: map[string]any{"group": "web-asg", "to": 3},
			Incident: fmt.Sprintf("inc-%06d", i%3), Requester: rule, Policy: Policy{Roles: []string{"sre"}, Expires: time.Hour}})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
		if i%2 == 1 {
			f.now = f.now.Add(time.Minute)
		}
	}
	return out
}

// TestIndexFollowsProposals: every state change moves a proposal's entry in the state index in
// the same transaction, and pages of any states list what List does, newest first.
func TestIndexFollowsProposals(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, store.NewMemory().WithEtcdLimits(), nil)
	ps := proposeN(t, f, 24)
	for i, p := range ps {
		var err error
		switch i % 4 {
		case 1:
			_, err = f.mg.Approve(ctx, p.ID, alice) // runs: approved, running, succeeded
		case 2:
			_, err = f.mg.Reject(ctx, p.ID, alice, "not now")
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	f.now = f.now.Add(2 * time.Hour)
	if err := f.mg.ExpireDue(ctx); err != nil {
		t.Fatal(err)
	}
	proposeN(t, f, 4) // pending
	f.mg.Wait()
	all, err := f.mg.List(ctx)
	if err != nil || len(all) != 28 {
		t.Fatalf("%d proposals, %v", len(all), err)
	}
	if got, want := proposalEntries(t, f.st), wantEntries(all); !maps.Equal(got, want) {
		t.Fatalf("index entries:\n%v\nwant\n%v", got, want)
	}
	for _, states := range [][]State{nil, {StatePending}, {StateExpired}, {StateSucceeded, StateRejected}, {StateRejected, StateSucceeded, StateRejected}, {StateFailed}, States} {
		want, _ := f.mg.List(ctx, states...)
		for _, limit := range []int{1, 5, 6, 27, 28, 29} {
			if got := proposalPages(t, f.mg, states, limit); !slices.Equal(got, newestProposals(want)) {
				t.Errorf("states %v, limit %d: %v\nwant %v", states, limit, got, newestProposals(want))
			}
		}
	}
	if _, err := f.mg.ListPage(ctx, PageQuery{States: []State{"done"}, Limit: 1}); err == nil {
		t.Error("an unknown state was accepted")
	}
}

// TestPruneDeletesProposalIndexEntries: a pruned proposal takes its entries with it.
func TestPruneDeletesProposalIndexEntries(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, store.NewMemory(), nil)
	ps := proposeN(t, f, 6)
	for _, p := range ps[:3] {
		if _, err := f.mg.Reject(ctx, p.ID, alice, "no"); err != nil {
			t.Fatal(err)
		}
	}
	f.now = f.now.Add(48 * time.Hour)
	if n, err := f.mg.Prune(ctx, f.now.Add(-24*time.Hour)); err != nil || n != 3 {
		t.Fatalf("pruned %d, %v", n, err)
	}
	left, _ := f.mg.List(ctx)
	if got, want := proposalEntries(t, f.st), wantEntries(left); len(left) != 3 || !maps.Equal(got, want) {
		t.Fatalf("index entries after pruning:\n%v\nwant\n%v", got, want)
	}
}

// TestEnsureProposalIndex: proposals stored by a version without the index are indexed once;
// the second start does nothing.
func TestEnsureProposalIndex(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory().WithEtcdLimits()
	f := newFixture(t, st, nil)
	ps := proposeN(t, f, 150)
	for _, p := range ps[:50] {
		if _, err := f.mg.Reject(ctx, p.ID, alice, "no"); err != nil {
			t.Fatal(err)
		}
	}
	all, _ := f.mg.List(ctx)
	for k := range proposalEntries(t, st) {
		if err := st.Delete(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	built, stats, err := f.mg.EnsureIndex(ctx)
	if !built || err != nil || stats.Items != 150 || stats.Written != 300 || stats.Removed != 0 {
		t.Fatalf("EnsureIndex: %v %+v %v", built, stats, err)
	}
	if got := proposalEntries(t, st); !maps.Equal(got, wantEntries(all)) {
		t.Fatal("the rebuilt index differs from the proposals")
	}
	if got := proposalPages(t, f.mg, []State{StateRejected}, 20); len(got) != 50 {
		t.Fatalf("%d rejected in pages, want 50", len(got))
	}
	if built, _, err := f.mg.EnsureIndex(ctx); built || err != nil {
		t.Fatalf("a second EnsureIndex: %v %v", built, err)
	}
}
