package bot

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/smartcloudops/smartcloudops/detector"
	"github.com/smartcloudops/smartcloudops/incident"
	"github.com/smartcloudops/smartcloudops/remediation"
)

// CardItem is one incident of a grouped card, with its proposals.
type CardItem struct {
	Incident  incident.Incident
	Proposals []remediation.Proposal

	// kept says how much of the item the notifier keeps in memory (see keep.go); alerts is how
	// many alerts the incident has when its alerts are not kept.
	kept   keptAs
	alerts int
}

// Group is what a grouped card shows: the group's ID, the values of its grouping key (such as
// check=cpu, rule=scale-web) and its member incidents, in any order.
type Group struct {
	ID    string
	Key   []Field
	Items []CardItem
}

// Grouped cards show this many members in full, worst first; the rest are counted.
const groupShown = 5

// groupPlans is how many "approve all" offers a grouped card shows, largest first.
const groupPlans = 3

// GroupCard shows a group of incidents on one card: how many there are and how many are still
// open, a summary of where their values lie, an "Approve all N" button for each plan that several
// members propose identically, and the worst members in full with their own proposals and
// buttons (a click acts on one proposal), worst first. Its image is the chart of the worst member.
func GroupCard(g Group) Message { return groupCard(g, worstFirst(g.Items)) }

// worstFirst is the order in which a grouped card lists items: the indices of items, worst first.
func worstFirst(items []CardItem) []int {
	order := make([]int, len(items))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return worse(&items[b].Incident, &items[a].Incident) })
	return order
}

// groupCard is GroupCard with g's items in order (see worstFirst).
func groupCard(g Group, order []int) Message {
	items := g.Items
	open := 0
	m := Message{Severity: SeverityInfo}
	for _, it := range items {
		if it.Incident.State == incident.StateOpen {
			open++
			if sev := Severity(cmp.Or(it.Incident.Severity, "warning")); severityRank[sev] > severityRank[m.Severity] {
				m.Severity = sev
			}
		}
	}
	what := groupName(g.Key)
	m.Title = fmt.Sprintf("%s: %d incidents, %d open", what, len(items), open)
	if open == 0 {
		m.Title = fmt.Sprintf("Resolved: %s: %d incidents", what, len(items))
	}
	if len(g.Key) > 0 {
		m.Fields = append(m.Fields, Field{"grouped by", fieldList(g.Key)})
	}
	m.Fields = append(m.Fields, Field{"open", fmt.Sprintf("%d of %d", open, len(items))})
	if s := valueSummary(items); s != "" {
		m.Fields = append(m.Fields, Field{"values", s})
	}
	if s := proposalSummary(items); s != "" {
		m.Fields = append(m.Fields, Field{"proposals", s})
	}
	if len(items) > 0 {
		since := items[0].Incident.Since
		for _, it := range items {
			if it.Incident.Since.Before(since) {
				since = it.Incident.Since
			}
		}
		m.Fields = append(m.Fields, Field{"since", since.UTC().Format("2006-01-02 15:04:05 UTC")})
	}
	m.Sections = append(m.Sections, approveAll(g.ID, items, order)...)
	var shown []remediation.Proposal
	for _, i := range order[:min(len(order), groupShown)] {
		it := items[i]
		m.Sections = append(m.Sections, memberSection(it.Incident))
		for _, p := range it.Proposals {
			m.Sections = append(m.Sections, ProposalSection(p))
		}
		shown = append(shown, it.Proposals...)
	}
	m.Mentions = proposalMentions(shown)
	if rest := len(items) - groupShown; rest > 0 {
		m.Sections = append(m.Sections, Section{Text: fmt.Sprintf("… and %d more; type `incidents` to list them all", rest)})
	}
	for _, i := range order {
		if inc := &items[i].Incident; inc.ChartPath != "" {
			m.Image = &Image{Name: inc.ID + ".png", Path: inc.ChartPath, Alt: "chart of " + inc.Title}
			break
		}
	}
	m.Footer = fmt.Sprintf("group %s · one card for the group; each proposal is still its own", g.ID)
	return m
}

var severityRank = map[Severity]int{SeverityInfo: 0, SeverityWarning: 1, SeverityCritical: 2}

// worse orders incidents by how much they need a person: open before resolved, then by
// severity, then by the episode's highest score, then by how far the value went past its band;
// ties by ID, so the order is stable.
func worse(a, b *incident.Incident) int {
	if c := cmp.Compare(btoi(a.State == incident.StateOpen), btoi(b.State == incident.StateOpen)); c != 0 {
		return c
	}
	if c := cmp.Compare(severityRank[Severity(a.Severity)], severityRank[Severity(b.Severity)]); c != 0 {
		return c
	}
	if c := cmp.Compare(max(a.Peak, a.Score), max(b.Peak, b.Score)); c != 0 {
		return c
	}
	if c := cmp.Compare(excess(a), excess(b)); c != 0 {
		return c
	}
	return cmp.Compare(b.ID, a.ID)
}

// excess is how far an incident's furthest value went past its band, in band widths.
func excess(inc *incident.Incident) float64 {
	w := inc.Upper - inc.Lower
	if w <= 0 {
		w = 1
	}
	d := max(inc.PeakValue-inc.Upper, inc.Lower-inc.PeakValue, 0)
	if math.IsNaN(d) {
		return 0
	}
	return d / w
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// groupName names a group by its key's values, "cpu · scale-web"; "incidents" when the key says
// nothing.
func groupName(key []Field) string {
	var parts []string
	for _, f := range key {
		if f.Value != "" {
			parts = append(parts, f.Value)
		}
	}
	if len(parts) == 0 {
		return "incidents"
	}
	return strings.Join(parts, " · ")
}

func fieldList(fs []Field) string {
	parts := make([]string, len(fs))
	for i, f := range fs {
		v := f.Value
		if v == "" {
			v = "(none)"
		}
		parts[i] = f.Label + "=" + v
	}
	return strings.Join(parts, ", ")
}

// valueSummary says where the open anomaly members' latest values lie against their bands, and
// their range: "8 above the band, 1 back inside; now 91.2% to 99.8%".
func valueSummary(items []CardItem) string {
	count := map[string]int{}
	lo, hi := math.Inf(1), math.Inf(-1)
	unit, oneUnit, n := "", true, 0
	for _, it := range items {
		inc := it.Incident
		if inc.Source != incident.SourceDetector || inc.State != incident.StateOpen {
			continue
		}
		if n > 0 && inc.Unit != unit {
			oneUnit = false
		}
		unit = inc.Unit
		n++
		count[detector.Direction(inc.Value, inc.Lower, inc.Upper)]++
		lo, hi = min(lo, inc.Value), max(hi, inc.Value)
	}
	if n == 0 {
		return ""
	}
	var parts []string
	for _, d := range []struct{ key, text string }{{"above", "above the band"}, {"below", "below the band"}, {"inside", "back inside"}} {
		if c := count[d.key]; c > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", c, d.text))
		}
	}
	s := strings.Join(parts, ", ")
	if oneUnit {
		if lo == hi {
			s += "; now " + num(lo, unit)
		} else {
			s += fmt.Sprintf("; now %s to %s", num(lo, unit), num(hi, unit))
		}
	}
	return s
}

// proposalSummary counts the members' proposals by state: "12 pending, 1 succeeded".
func proposalSummary(items []CardItem) string {
	count := map[remediation.State]int{}
	for _, it := range items {
		for _, p := range it.Proposals {
			count[p.State]++
		}
	}
	var parts []string
	for _, s := range remediation.States {
		if c := count[s]; c > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", c, s))
		}
	}
	return strings.Join(parts, ", ")
}

// approveAll offers one button for each plan that at least two members' pending proposals share,
// largest first. The button's value carries the count, the plan hash and the group, so a click
// approves exactly that many proposals of that plan on this card, one by one, or nothing when
// the count has changed.
func approveAll(group string, items []CardItem, order []int) []Section {
	var out []Section
	for _, o := range planOffers(items, order) {
		p := items[o.item].Proposals[o.proposal]
		what := p.Plan.Summary()
		if p.Plan.DryRun {
			what += " (dry run)"
		}
		s := Section{Text: fmt.Sprintf("%d identical plans: %s", o.n, what)}
		if p.Plan.Rule != "" {
			s.Fields = append(s.Fields, Field{"rule", p.Plan.Rule + " " + p.Plan.RuleVersion})
		}
		approvals := "approval"
		if p.Policy.MinApprovers != 1 {
			approvals += "s"
		}
		s.Fields = append(s.Fields, Field{"needs", fmt.Sprintf("%d %s each from %s, before %s; each is approved and audited on its own",
			p.Policy.MinApprovers, approvals, strings.Join(p.Policy.Roles, " or "), o.expires.UTC().Format("15:04 UTC"))})
		s.Buttons = []Button{{Action: ActionApproveAll, Value: ApproveAllValue(o.n, o.hash, group),
			Label: fmt.Sprintf("Approve all %d", o.n), Style: StylePrimary}}
		out = append(out, s)
	}
	return out
}

// planOffer is a plan that several members' pending proposals share: how many, the earliest
// expiry among them (what the button can promise), and where the first of them is in the items.
type planOffer struct {
	hash           string
	n              int
	expires        time.Time
	item, proposal int
}

// planOffers are the plans a grouped card of items (in order) offers to approve all at once:
// those that at least two pending proposals share, at most groupPlans of them, largest first.
func planOffers(items []CardItem, order []int) []planOffer {
	byHash := map[string]int{}
	var plans []planOffer
	for _, i := range order {
		for j, p := range items[i].Proposals {
			if p.State != remediation.StatePending || p.PlanHash == "" {
				continue
			}
			k, ok := byHash[p.PlanHash]
			if !ok {
				k = len(plans)
				byHash[p.PlanHash] = k
				plans = append(plans, planOffer{hash: p.PlanHash, expires: p.ExpiresAt, item: i, proposal: j})
			}
			if p.ExpiresAt.Before(plans[k].expires) {
				plans[k].expires = p.ExpiresAt
			}
			plans[k].n++
		}
	}
	plans = slices.DeleteFunc(plans, func(o planOffer) bool { return o.n < 2 })
	slices.SortStableFunc(plans, func(a, b planOffer) int { return cmp.Compare(b.n, a.n) })
	return plans[:min(len(plans), groupPlans)]
}

// memberSection is one member of a grouped card: its title, series and evidence, and a Silence
// button while it is open and not silenced.
func memberSection(inc incident.Incident) Section {
	text := fmt.Sprintf("%s (%s)", inc.Title, inc.ID)
	if inc.State == incident.StateResolved {
		text = "Resolved: " + text
	}
	sec := Section{Text: text}
	if w := Labels(inc.Labels); w != "" {
		sec.Fields = append(sec.Fields, Field{"where", w})
	}
	if inc.Source == incident.SourceDetector {
		sec.Fields = append(sec.Fields, Field{"value", valueLine(inc)})
	}
	if inc.Silenced != "" {
		sec.Fields = append(sec.Fields, Field{"silenced", inc.Silenced})
	}
	if inc.State == incident.StateOpen && inc.Silenced == "" {
		sec.Buttons = []Button{{Action: ActionSilence, Value: inc.ID, Label: "Silence 1h"}}
	}
	return sec
}
