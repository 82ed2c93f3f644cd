package bot

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

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
		m.Fields = append(m.Fields,
			Field{"value", fmt.Sprintf("%s (expected %s, band %s to %s)", num(inc.Value, inc.Unit), num(inc.Expected, inc.Unit), num(inc.Lower, inc.Unit), num(inc.Upper, inc.Unit))},
			Field{"score", fmt.Sprintf("%.2f", inc.Score)})
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
	if inc.State == incident.StateOpen && inc.Silenced == "" {
		m.Sections = append(m.Sections, Section{Buttons: []Button{{Action: ActionSilence, Value: inc.ID, Label: "Silence 1h"}}})
	}
	footer := "incident " + inc.ID
	if inc.Silenced != "" {
		footer += " · silenced (" + inc.Silenced + ")"
	}
	if inc.Updates > 0 {
		footer += fmt.Sprintf(" · updated %d×", inc.Updates)
	}
	m.Footer = footer
	m.Mentions = proposalMentions(props)
	return m
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

// CardItem is one incident of a grouped card, with its proposals.
type CardItem struct {
	Incident  incident.Incident
	Proposals []remediation.Proposal
}

// GroupCard shows several incidents that arrived together on one card: a line per incident with
// its evidence, its proposals with their buttons, and a Silence button.
func GroupCard(vs []CardItem) Message {
	rank := map[Severity]int{SeverityInfo: 0, SeverityWarning: 1, SeverityCritical: 2}
	m := Message{Title: fmt.Sprintf("%d incidents at once", len(vs)), Severity: SeverityInfo}
	open := 0
	for _, v := range vs {
		inc := v.Incident
		sev := Severity(inc.Severity)
		if inc.State == incident.StateOpen {
			open++
			if rank[sev] > rank[m.Severity] {
				m.Severity = sev
			}
		}
		text := fmt.Sprintf("%s (%s)", inc.Title, inc.ID)
		if inc.State == incident.StateResolved {
			text = "Resolved: " + text
		}
		sec := Section{Text: text}
		if w := Labels(inc.Labels); w != "" {
			sec.Fields = append(sec.Fields, Field{"where", w})
		}
		if inc.Source == incident.SourceDetector {
			sec.Fields = append(sec.Fields, Field{"value", fmt.Sprintf("%s (expected %s), score %.2f", num(inc.Value, inc.Unit), num(inc.Expected, inc.Unit), inc.Score)})
		}
		if inc.State == incident.StateOpen && inc.Silenced == "" {
			sec.Buttons = []Button{{Action: ActionSilence, Value: inc.ID, Label: "Silence 1h"}}
		}
		m.Sections = append(m.Sections, sec)
		for _, p := range v.Proposals {
			m.Sections = append(m.Sections, ProposalSection(p))
		}
	}
	m.Footer = fmt.Sprintf("%d of %d open · grouped to keep the channel readable", open, len(vs))
	var props []remediation.Proposal
	for _, v := range vs {
		props = append(props, v.Proposals...)
	}
	m.Mentions = proposalMentions(props)
	return m
}
