package remediation

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/smartcloudops/smartcloudops/internal/store"
)

// TestProposalsGaugeCountsTheIndex: the proposals gauge counts each state from the index by
// state, without reading the proposals themselves.
func TestProposalsGaugeCountsTheIndex(t *testing.T) {
	st := &countingStore{Store: store.NewMemory()}
	reg := prometheus.NewRegistry()
	f := newFixture(t, st, func(o *Options) { o.Registerer = reg })
	pol := Policy{Roles: []string{"sre"}, MinApprovers: 2}
	for range 3 {
		f.propose(t, pol)
	}
	rejected := f.propose(t, pol)
	if _, err := f.mg.Reject(t.Context(), rejected.ID, alice, "not now"); err != nil {
		t.Fatal(err)
	}
	st.gets.Store(0)
	st.lists.Store(0)
	want := `
# HELP smartcloudops_proposals Proposals by state.
# TYPE smartcloudops_proposals gauge
smartcloudops_proposals{state="approved"} 0
smartcloudops_proposals{state="expired"} 0
smartcloudops_proposals{state="failed"} 0
smartcloudops_proposals{state="pending"} 3
smartcloudops_proposals{state="rejected"} 1
smartcloudops_proposals{state="running"} 0
smartcloudops_proposals{state="succeeded"} 0
smartcloudops_proposals{state="unknown"} 0
smartcloudops_proposals{state="void"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "smartcloudops_proposals"); err != nil {
		t.Fatal(err)
	}
	if st.gets.Load() != 0 || st.lists.Load() != 0 {
		t.Fatalf("a scrape read %d proposals and listed them %d times, want neither", st.gets.Load(), st.lists.Load())
	}
}
