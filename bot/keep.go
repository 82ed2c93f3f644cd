package bot

import (
	"context"
	"hash/maphash"
	"slices"

	"github.com/smartcloudops/smartcloudops/incident"
	"github.com/smartcloudops/smartcloudops/remediation"
)

// What the notifier keeps in memory of each incident on a card, or waiting for one.
//
// A storm's or a webhook flood's grouped card may have 100,000 members, all held in memory
// between passes so that a change of one is an edit without reading the others back. Kept whole,
// each costs a few kilobytes in dozens of heap objects, and the garbage collector's work grows
// with them until it takes nearly half the CPU. So members are kept in one of three forms:
//
//   - whole: as the change reported it;
//   - trimmed (every incident): without what no card shows or what only a card of one incident
//     shows and is never out of date in the store: a proposal's parameters and dedup key, an
//     Alertmanager incident's alerts (counted), annotations and group labels;
//   - compact (members of a grouped card with more members than it shows in full): with only
//     what the card's summary, its order of members and the pacing of its edits read.
//
// What a card shows in full of a member kept trimmed or compact (a card of one incident, the
// worst members of a grouped card, the plan of an "approve all" offer, a finished proposal's
// reply in the thread, the chart) is filled from the incident manager, which holds routine
// updates not yet stored, and from the store (see fill).
type keptAs uint8

const (
	keptWhole keptAs = iota
	keptTrimmed
	keptCompact
)

// hold stores it as what the notifier keeps of incident id, in the least form its cards need,
// and returns what it stored.
func (n *Notifier) hold(id string, it CardItem) CardItem {
	it = trim(it)
	if n.compactable(id) {
		it = compact(it)
	}
	n.cards.items[id] = it
	return it
}

// compactable reports whether incident id is on a grouped card on every platform, each with
// more members than it shows in full.
func (n *Notifier) compactable(id string) bool {
	for _, t := range n.o.Targets {
		c, ok := n.cards.byMember[recordKey(id, t)]
		if !ok || c.proposal != "" || !c.grouped() || len(c.rec.Members) <= groupShown {
			return false
		}
	}
	return len(n.o.Targets) > 0
}

// trim drops from it what no card shows, and what only a card of one incident shows of an
// Alertmanager incident; its alerts are counted.
func trim(it CardItem) CardItem {
	if it.kept == keptWhole {
		it.kept = keptTrimmed
		if it.Incident.Source == incident.SourceAlertmanager {
			it.alerts = len(it.Incident.Alerts)
			trimmedFields(&it.Incident, &incident.Incident{})
		}
	}
	if !slices.ContainsFunc(it.Proposals, func(p remediation.Proposal) bool { return p.Plan.Params != nil || p.Dedup != "" }) {
		return it
	}
	props := make([]remediation.Proposal, len(it.Proposals))
	for i, p := range it.Proposals {
		p.Plan.Params, p.Dedup = nil, ""
		props[i] = p
	}
	it.Proposals = props
	return it
}

// compact keeps of a trimmed item what a grouped card reads of a member it does not show in
// full: what orders it (state, severity, score, value and band), what the summary counts (its
// source, unit and since; its proposals' states, plans' hashes, expiry and outcome), and what
// says whether a change of it is to be shown (title, chart, silence, refusals, approvals).
func compact(it CardItem) CardItem {
	if it.kept == keptCompact {
		if !slices.ContainsFunc(it.Proposals, func(p remediation.Proposal) bool { return !compactProposal(p) }) {
			return it
		}
	}
	it.kept = keptCompact
	compactFields(&it.Incident, &incident.Incident{})
	props := make([]remediation.Proposal, len(it.Proposals))
	for i, p := range it.Proposals {
		compactProposalFields(&p, &remediation.Proposal{})
		props[i] = p
	}
	it.Proposals = props
	return it
}

// compactProposal reports whether p is kept compact: every proposal has an action.
func compactProposal(p remediation.Proposal) bool { return p.Plan.Action == "" }

// fill gives it back what keeping it left out, for a card that shows it in full: the incident
// from the incident manager (every field but those the notifier keeps, which are as current),
// and its proposals' plans, policies and people from the store. An item kept as enough (trimmed
// is enough for a grouped card; a card of one incident needs it whole, but an anomaly incident
// has nothing trim drops) is shown as it is, without a read.
func (n *Notifier) fill(ctx context.Context, it CardItem, enough keptAs) (CardItem, error) {
	if it.kept <= enough || it.kept == keptTrimmed && it.Incident.Source != incident.SourceAlertmanager {
		return it, nil
	}
	whole, err := n.o.Incidents.Get(ctx, it.Incident.ID)
	if err != nil {
		return it, err
	}
	trimmedFields(&it.Incident, &whole)
	if it.kept == keptCompact {
		compactFields(&it.Incident, &whole)
		props := slices.Clone(it.Proposals)
		for i := range props {
			if err := n.fillProposal(ctx, &props[i]); err != nil {
				return it, err
			}
		}
		it.Proposals = props
	}
	it.kept, it.alerts = keptWhole, 0
	return it, nil
}

// fillProposal gives a proposal kept compact back its plan, policy and people, from the store;
// its state and outcome stay as the notifier knows them.
func (n *Notifier) fillProposal(ctx context.Context, p *remediation.Proposal) error {
	if !compactProposal(*p) {
		return nil
	}
	whole, err := n.o.Proposals.Get(ctx, p.ID)
	if err != nil {
		return err
	}
	compactProposalFields(p, &whole)
	return nil
}

// The fields each form leaves out, named once: holding copies them from a zero value, filling
// from the whole.

// trimmedFields copies what trim leaves out of an Alertmanager incident.
func trimmedFields(dst, src *incident.Incident) {
	dst.Alerts, dst.Annotations, dst.GroupLabels = src.Alerts, src.Annotations, src.GroupLabels
}

// compactFields copies what compact leaves out of a trimmed incident.
func compactFields(dst, src *incident.Incident) {
	dst.Fingerprint, dst.Labels, dst.Check, dst.Models, dst.Resolution, dst.GroupKey =
		src.Fingerprint, src.Labels, src.Check, src.Models, src.Resolution, src.GroupKey
}

// compactProposalFields copies what compact leaves out of a proposal.
func compactProposalFields(dst, src *remediation.Proposal) {
	dst.Plan, dst.Policy, dst.Requester, dst.DecidedBy, dst.Correlation = src.Plan, src.Policy, src.Requester, src.DecidedBy, src.Correlation
}

// alertCount is how many alerts the item's incident has, kept or not.
func (it CardItem) alertCount() int {
	if it.kept != keptWhole && it.Incident.Source == incident.SourceAlertmanager {
		return it.alerts
	}
	return len(it.Incident.Alerts)
}

// sigSeed hashes what cards show of their members (see memberSig): the hashes live only in
// this process's memory.
var sigSeed = maphash.MakeSeed()
