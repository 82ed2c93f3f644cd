package loadtest

import "slices"

// Loss is the zero-loss verdict on a set of acknowledged alerts: what the bot stored for them,
// read back through its API.
type Loss struct {
	Acked int `json:"acked_alerts"`
	// NoIncident counts acknowledged alerts that no incident holds.
	NoIncident int `json:"no_incident"`
	// NoProposal counts acknowledged alerts that no proposal names.
	NoProposal int `json:"no_proposal"`
	// DuplicateProposals counts alerts that more than one proposal names.
	DuplicateProposals int `json:"duplicate_proposals"`
	// DuplicateIncidents counts alerts that more than one incident holds.
	DuplicateIncidents int `json:"duplicate_incidents"`
	// Unlinked counts alerts whose proposal does not name the alert's incident, or whose
	// incident does not list the proposal.
	Unlinked int `json:"unlinked"`
	// Examples names up to maxExamples alerts of each kind above, to look up in the ack log.
	Examples map[string][]string `json:"examples,omitempty"`
	// Unacked alerts were never acknowledged; whether the bot kept them is not a loss either way.
	Unacked         int `json:"unacked_alerts"`
	UnackedRecorded int `json:"unacked_but_recorded"`
}

const maxExamples = 5

// Lost says whether anything acknowledged is missing or doubled.
func (l Loss) Lost() bool {
	return l.NoIncident+l.NoProposal+l.DuplicateProposals+l.DuplicateIncidents+l.Unlinked > 0
}

// CheckLoss checks that every acknowledged alert (its `alert` label) has exactly one incident
// holding it and exactly one proposal naming it (its first script argument), the two linked
// both ways. Alerts in neither list are ignored.
func CheckLoss(acked, unacked []string, incs []Incident, props []Proposal) Loss {
	incOf := map[string][]string{} // alert → incidents
	linked := map[string]map[string]bool{}
	for _, inc := range incs {
		seen := map[string]bool{}
		for _, a := range inc.Alerts {
			id := a.Labels["alert"]
			if id == "" || seen[id] {
				continue
			}
			seen[id] = true
			incOf[id] = append(incOf[id], inc.ID)
		}
		ps := map[string]bool{}
		for _, p := range inc.Proposals {
			ps[p] = true
		}
		linked[inc.ID] = ps
	}
	propOf := map[string][]Proposal{}
	for _, p := range props {
		if args := p.Args(); len(args) > 0 {
			propOf[args[0]] = append(propOf[args[0]], p)
		}
	}
	ids := slices.Compact(slices.Sorted(slices.Values(acked)))
	l := Loss{Acked: len(ids), Unacked: len(unacked)}
	bad := map[string][]string{}
	note := func(kind string, n *int, id string) {
		*n++
		bad[kind] = append(bad[kind], id)
	}
	for _, id := range ids {
		is, ps := incOf[id], propOf[id]
		switch {
		case len(is) == 0:
			note("no_incident", &l.NoIncident, id)
		case len(is) > 1:
			note("duplicate_incidents", &l.DuplicateIncidents, id)
		}
		switch {
		case len(ps) == 0:
			note("no_proposal", &l.NoProposal, id)
		case len(ps) > 1:
			note("duplicate_proposals", &l.DuplicateProposals, id)
		}
		if len(is) == 1 && len(ps) == 1 && (ps[0].Incident != is[0] || !linked[is[0]][ps[0].ID]) {
			note("unlinked", &l.Unlinked, id)
		}
	}
	for _, id := range unacked {
		if len(incOf[id]) > 0 || len(propOf[id]) > 0 {
			l.UnackedRecorded++
		}
	}
	for kind, ids := range bad {
		if l.Examples == nil {
			l.Examples = map[string][]string{}
		}
		l.Examples[kind] = ids[:min(len(ids), maxExamples)]
	}
	return l
}
