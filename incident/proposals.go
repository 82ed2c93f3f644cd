package incident

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/smartcloudops/smartcloudops/internal/store"
)

// withProposals adds to inc the proposals made for it (Options.ProposalsOf) that it does not
// record itself, after those it does, in the order ProposalsOf gives.
func (m *Manager) withProposals(ctx context.Context, inc *Incident) error {
	if m.o.ProposalsOf == nil {
		return nil
	}
	ids, err := m.o.ProposalsOf(ctx, inc.ID)
	if err != nil {
		return fmt.Errorf("proposals of incident %s: %w", inc.ID, err)
	}
	if len(ids) == 0 {
		return nil
	}
	have := make(map[string]bool, len(inc.Proposals))
	for _, id := range inc.Proposals {
		have[id] = true
	}
	for _, id := range ids {
		if !have[id] {
			inc.Proposals = append(inc.Proposals, id)
			have[id] = true
		}
	}
	return nil
}

// refusalsField is how a stored incident that shows refusals spells the field; one without any
// omits it.
var refusalsField = []byte(`"refusals":`)

// ClearRefusals removes, by incident ID, the refusals of the given rules, which have now made
// their proposals: the card no longer says why they made none. Only incidents that show a
// refusal are decoded and written, in as few transactions as UpdateMany; the rest, nearly
// every incident, cost one read. It returns the IDs it could not update, with the first reason;
// an unknown ID is not one of them (a proposal can outlive its incident).
func (m *Manager) ClearRefusals(ctx context.Context, rules map[string][]string) ([]string, error) {
	fns := map[string]func(*Incident){}
	var failed []string
	var first error
	for id, rs := range rules {
		refused, err := m.refused(ctx, id)
		if err != nil {
			failed = append(failed, id)
			first = firstErr(first, err)
			continue
		}
		if !refused {
			continue
		}
		fns[id] = func(inc *Incident) {
			inc.Refusals = slices.DeleteFunc(inc.Refusals, func(r Refusal) bool { return slices.Contains(rs, r.Rule) })
		}
	}
	if len(fns) == 0 {
		return failed, first
	}
	more, err := m.UpdateMany(ctx, fns)
	return append(failed, more...), firstErr(first, err)
}

// refused reports whether incident id, as stored or held in memory, shows a refusal.
func (m *Manager) refused(ctx context.Context, id string) (bool, error) {
	m.mu.Lock()
	p, ok := m.pending[id]
	m.mu.Unlock()
	if ok {
		return len(p.Refusals) > 0, nil
	}
	kv, err := m.o.Store.Get(ctx, incPrefix+id)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return bytes.Contains(kv.Value, refusalsField), nil
}

// firstErr is the first of two errors that is not nil.
func firstErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}
