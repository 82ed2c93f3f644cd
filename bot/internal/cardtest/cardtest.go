// Package cardtest holds the incidents, proposals and groups that the golden tests of every
// chat platform render, so Slack, Discord and the console pin the same cards. Only tests
// import it.
package cardtest

import (
	"fmt"
	"time"

	"github.com/smartcloudops/smartcloudops/bot"
	"github.com/smartcloudops/smartcloudops/incident"
	"github.com/smartcloudops/smartcloudops/remediation"
)

// T0 is when the sample episode began.
var T0 = time.Date(2026, 11, 25, 14, 15, 0, 0, time.UTC)

// Incident is an open CPU episode of one series: 92.4 % now, 95.1 % at its peak, against the
// band frozen when it began.
func Incident() incident.Incident {
	return incident.Incident{ID: "inc-3f2a1b", Source: incident.SourceDetector, Title: "demo-cpu above the expected band on asg=web-asg",
		Severity: "critical", State: incident.StateOpen, Labels: map[string]string{"asg": "web-asg", "service": "web"}, Check: "demo-cpu",
		Unit: "%", Value: 92.4, Score: 0.91, Peak: 0.97, PeakValue: 95.1, Expected: 35.2, Lower: 28.9, Upper: 41.5, Models: []string{"level", "robust"},
		Since: T0, OpenedAt: T0, LastSeen: T0.Add(3 * time.Minute), ChartPath: "/data/charts/inc-3f2a1b.png"}
}

// Resolved is Incident after its episode ended, the value back inside the band.
func Resolved() incident.Incident {
	inc := Incident()
	inc.State, inc.ResolvedAt, inc.Value, inc.Score = incident.StateResolved, T0.Add(20*time.Minute), 36.5, 0.12
	return inc
}

// Proposal is the rule's proposal for Incident, in state.
func Proposal(state remediation.State) remediation.Proposal {
	p := remediation.Proposal{ID: "p-7f3a2c", State: state, PlanHash: "9c1e2f3a4b5c6d7e", Incident: "inc-3f2a1b",
		Plan:   remediation.Plan{Action: "script", Description: "script scale_up.sh web-asg 2 3", Rule: "demo-cpu-spike", RuleVersion: "0c1d2e3f4a5b"},
		Policy: remediation.Policy{Roles: []string{"operator"}, MinApprovers: 1}, ExpiresAt: T0.Add(30 * time.Minute)}
	who := remediation.Actor{ID: "slack:U024BE7LH", Name: "slack:alice"}
	switch state {
	case remediation.StateSucceeded:
		p.DecidedBy, p.DecidedAt, p.FinishedAt, p.Result = &who, T0.Add(time.Minute), T0.Add(time.Minute+time.Second), "script scale_up.sh exited 0"
	case remediation.StateRejected:
		p.DecidedBy, p.DecidedAt, p.Reason = &who, T0.Add(time.Minute), "not during the sale"
	}
	return p
}

// Group is a storm of one check: twelve series, one resolved, eleven with the same pending plan.
func Group() bot.Group {
	var items []bot.CardItem
	for i := range 12 {
		inc := Incident()
		inc.ID = fmt.Sprintf("inc-%02d", i)
		inc.Labels = map[string]string{"asg": "web-asg", "host": fmt.Sprintf("web-%02d", i)}
		inc.Title = fmt.Sprintf("demo-cpu above the expected band on host=web-%02d", i)
		inc.Value, inc.PeakValue, inc.Peak = 80+float64(i), 85+float64(i), 0.80+float64(i)/100
		inc.ChartPath = "/data/charts/" + inc.ID + ".png"
		if i == 3 {
			inc.State, inc.ResolvedAt, inc.Value = incident.StateResolved, T0.Add(5*time.Minute), 36
		}
		it := bot.CardItem{Incident: inc}
		if i > 0 {
			p := Proposal(remediation.StatePending)
			p.ID, p.Incident = fmt.Sprintf("p-%02d", i), inc.ID
			it.Proposals = []remediation.Proposal{p}
		}
		items = append(items, it)
	}
	return bot.Group{ID: "g-0a1b2c3d4e5f", Key: []bot.Field{{Label: "check", Value: "demo-cpu"}, {Label: "rule", Value: "demo-cpu-spike"}}, Items: items}
}

// Cards are the cards every platform's golden tests render, by name.
func Cards() []struct {
	Name string
	Msg  bot.Message
} {
	return []struct {
		Name string
		Msg  bot.Message
	}{
		{"incident_proposal", bot.IncidentCard(Incident(), []remediation.Proposal{Proposal(remediation.StatePending)})},
		{"incident_resolved", bot.IncidentCard(Resolved(), []remediation.Proposal{Proposal(remediation.StateSucceeded)})},
		{"group_storm", bot.GroupCard(Group())},
	}
}
