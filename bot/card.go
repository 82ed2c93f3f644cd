package bot

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/smartcloudops/smartcloudops/detector"
	"github.com/smartcloudops/smartcloudops/incident"
	"github.com/smartcloudops/smartcloudops/remediation"
)

// IncidentCard renders an incident and the proposals made for it as one card. It is a pure
// function of its inputs, so every platform shows the same facts and golden files pin them.
func IncidentCard(inc incident.Incident, props []remediation.Proposal) Message {
	sev := Severity(inc.Severity)
	if sev == "" {
		sev = SeverityWarning
	}
	m := Message{Title: inc.Title, Severity: sev}
	if inc.State == incident.StateResolved {
		m.Title = "Resolved: " + inc.Title
		m.Severity = SeverityInfo
	}
	if w := Labels(inc.Labels); w != "" {
		m.Fields = append(m.Fields, Field{"where", w})
	}
	switch inc.Source {
	case incident.SourceDetector:
		m.Fields = append(m.Fields, Field{"value", valueLine(inc)}, Field{"score", scoreLine(inc)})
		if len(inc.Models) > 0 {
			m.Fields = append(m.Fields, Field{"flagged by", strings.Join(inc.Models, ", ")})
		}
	case incident.SourceAlertmanager:
		for _, k := range []string{"summary", "description"} {
			if v := inc.Annotations[k]; v != "" {
				m.Fields = append(m.Fields, Field{k, v})
			}
		}
		firing := 0
		for _, a := range inc.Alerts {
			if a.Status == "firing" {
				firing++
			}
		}
		m.Fields = append(m.Fields, Field{"alerts", fmt.Sprintf("%d firing, %d resolved", firing, len(inc.Alerts)-firing)})
	}
	m.Fields = append(m.Fields, Field{"since", inc.Since.UTC().Format("2006-01-02 15:04:05 UTC")})
	if inc.State == incident.StateResolved {
		at := inc.ResolvedAt.UTC().Format("2006-01-02 15:04:05 UTC")
		if inc.Resolution != "" {
			at += " (" + inc.Resolution + ")"
		}
		m.Fields = append(m.Fields, Field{"resolved", at})
	}
	if inc.ChartPath != "" {
		m.Image = &Image{Name: inc.ID + ".png", Path: inc.ChartPath, Alt: "chart of " + inc.Title}
	}
	for _, p := range props {
		m.Sections = append(m.Sections, ProposalSection(p))
	}
	if inc.State == incident.StateOpen {
		for _, r := range inc.Refusals {
			text := fmt.Sprintf("No proposal from rule %s: %s", r.Rule, r.Reason)
			if r.Retry {
				text += " (the rule tries again at its next evaluation)"
			}
			m.Sections = append(m.Sections, Section{Text: text})
		}
	}
	if inc.State == incident.StateOpen && inc.Silenced == "" {
		m.Sections = append(m.Sections, Section{Buttons: []Button{{Action: ActionSilence, Value: inc.ID, Label: "Silence 1h"}}})
	}
	footer := "incident " + inc.ID
	if inc.Silenced != "" {
		footer += " · silenced (" + inc.Silenced + ")"
	}
	m.Footer = footer
	m.Mentions = proposalMentions(props)
	return m
}

// valueLine says where an anomaly incident's latest value lies against the band frozen when its
// episode began, and how far the episode went: "95.2% now, above the band; peak 97.1% (expected
// 35.2%, band 28.9% to 41.5% when it began)". A value back inside the band is said to be so,
// never "above". The band is shown clipped to what the unit allows (0 to 100 for a
// percentage); the incident keeps the model's raw numbers.
func valueLine(inc incident.Incident) string {
	u := inc.Unit
	when := "now"
	if inc.State == incident.StateResolved {
		when = "at the end"
	}
	var where string
	switch detector.Direction(inc.Value, inc.Lower, inc.Upper) {
	case "above":
		where = "above the band"
	case "below":
		where = "below the band"
	default:
		where = "inside the band"
		if inc.State == incident.StateOpen {
			where = "back inside the band"
		}
	}
	s := fmt.Sprintf("%s %s, %s", num(inc.Value, u), when, where)
	if inc.Peak > 0 {
		s += "; peak " + num(inc.PeakValue, u)
	}
	return s + fmt.Sprintf(" (expected %s, band %s to %s when it began)",
		num(clip(inc.Expected, u), u), num(clip(inc.Lower, u), u), num(clip(inc.Upper, u), u))
}

// scoreLine is the latest score, and the episode's highest when it is known.
func scoreLine(inc incident.Incident) string {
	if inc.Peak > 0 {
		return fmt.Sprintf("%.2f now, peak %.2f", inc.Score, inc.Peak)
	}
	return fmt.Sprintf("%.2f", inc.Score)
}

// clip bounds v to the range the unit allows: 0 to 100 for a percentage, anything otherwise.
// A model's band around a value near a bound reaches past it (below 0 %, above 100 %), which a
// card shows as the bound.
func clip(v float64, unit string) float64 {
	if lo, hi, ok := UnitRange(unit); ok {
		return max(lo, min(hi, v))
	}
	return v
}

// UnitRange is the range of values a metric of the unit can take, when the unit says: 0 to 100
// for "%". Cards and charts clip bands to it.
func UnitRange(unit string) (lo, hi float64, ok bool) {
	if unit == "%" {
		return 0, 100, true
	}
	return 0, 0, false
}

// ProposalSection states exactly what a proposal will run, its state, and — while it waits —
// the Approve and Reject buttons.
func ProposalSection(p remediation.Proposal) Section {
	what := p.Plan.Summary()
	if p.Plan.DryRun {
		what += " (dry run)"
	}
	s := Section{Text: fmt.Sprintf("Proposal %s: %s", p.ID, what)}
	if p.Plan.Rule != "" {
		s.Fields = append(s.Fields, Field{"rule", p.Plan.Rule + " " + p.Plan.RuleVersion})
	}
	s.Fields = append(s.Fields, Field{"state", stateLine(p)})
	switch p.State {
	case remediation.StatePending:
		need := fmt.Sprintf("%d of %d approvals from %s", len(p.Approvals), p.Policy.MinApprovers, strings.Join(p.Policy.Roles, " or "))
		s.Fields = append(s.Fields, Field{"needs", need + ", before " + p.ExpiresAt.UTC().Format("15:04 UTC")})
		s.Buttons = []Button{
			{Action: ActionApprove, Value: ApproveValue(p.ID, p.PlanHash), Label: "Approve", Style: StylePrimary},
			{Action: ActionReject, Value: p.ID, Label: "Reject", Style: StyleDanger},
		}
	case remediation.StateSucceeded, remediation.StateFailed:
		if p.Result != "" {
			s.Fields = append(s.Fields, Field{"result", p.Result})
		}
		if p.Error != "" {
			s.Fields = append(s.Fields, Field{"error", p.Error})
		}
	}
	if r := p.Resolution; r != nil {
		what := "it ran"
		if r.Outcome == remediation.OutcomeNotRun {
			what = "it did not run"
		}
		line := fmt.Sprintf("%s, said %s at %s", what, r.By.Name, r.At.UTC().Format("15:04:05 UTC"))
		if r.Note != "" {
			line += ": " + r.Note
		}
		s.Fields = append(s.Fields, Field{"settled", line})
	}
	return s
}

func stateLine(p remediation.Proposal) string {
	at := func(t time.Time) string { return t.UTC().Format("15:04:05 UTC") }
	who := ""
	if p.DecidedBy != nil {
		who = p.DecidedBy.Name
	}
	switch p.State {
	case remediation.StateApproved:
		return "approved by " + who + " at " + at(p.DecidedAt)
	case remediation.StateRunning:
		return "running since " + at(p.StartedAt) + " (approved by " + who + ")"
	case remediation.StateSucceeded:
		return "succeeded at " + at(p.FinishedAt) + " (approved by " + who + ")"
	case remediation.StateFailed:
		return "failed at " + at(p.FinishedAt)
	case remediation.StateRejected:
		r := "rejected by " + who + " at " + at(p.DecidedAt)
		if p.Reason != "" {
			r += ": " + p.Reason
		}
		return r
	case remediation.StateExpired:
		return "expired at " + at(p.ExpiresAt)
	case remediation.StateVoid:
		return "void: " + p.Reason
	case remediation.StateUnknown:
		return "unknown: " + p.Reason
	}
	return string(p.State)
}

// ProposalCard is the card of a proposal that belongs to no incident (a manual `run`).
func ProposalCard(p remediation.Proposal) Message {
	return Message{Title: "Manual run requested by " + p.Requester.Name, Severity: SeverityWarning,
		Sections: []Section{ProposalSection(p)}, Footer: "proposal " + p.ID, Mentions: proposalMentions([]remediation.Proposal{p})}
}

// Labels formats a label set as k=v pairs in key order.
func Labels(l map[string]string) string {
	keys := slices.Sorted(maps.Keys(l))
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+l[k])
	}
	return strings.Join(parts, ", ")
}

func num(v float64, unit string) string {
	s := fmt.Sprintf("%.4g", v)
	if unit == "%" {
		return s + "%"
	}
	if unit != "" {
		return s + " " + unit
	}
	return s
}
