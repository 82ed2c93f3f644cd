package bot

import (
	"strings"
	"testing"
	"time"

	"github.com/smartcloudops/smartcloudops/incident"
	"github.com/smartcloudops/smartcloudops/remediation"
)

// TestCardSaysWhyNoProposalAndHowUnknownWasSettled: a rule that could not propose says why on
// the card, and a proposal whose unknown outcome was settled says who settled it and how.
func TestCardSaysWhyNoProposalAndHowUnknownWasSettled(t *testing.T) {
	at := time.Date(2026, 11, 25, 14, 20, 0, 0, time.UTC)
	inc := incident.Incident{ID: "inc-1", Title: "cpu high", State: incident.StateOpen, Refusals: []incident.Refusal{
		{Rule: "scale-web", Reason: `Auto Scaling group "web-asg" not found`},
		{Rule: "restart-api", Reason: "ECS did not answer in time", Retry: true},
	}}
	p := remediation.Proposal{ID: "p-1", State: remediation.StateSucceeded, Resolution: &remediation.Resolution{
		Outcome: remediation.OutcomeRan, By: remediation.Actor{ID: "slack:U1", Name: "slack:alice"}, At: at, Note: "desired is 3"}}
	m := IncidentCard(inc, []remediation.Proposal{p})
	var text []string
	for _, s := range m.Sections {
		text = append(text, s.Text)
		for _, f := range s.Fields {
			text = append(text, f.Label+": "+f.Value)
		}
	}
	all := strings.Join(text, "\n")
	for _, want := range []string{
		`No proposal from rule scale-web: Auto Scaling group "web-asg" not found`,
		"No proposal from rule restart-api: ECS did not answer in time (the rule tries again at its next evaluation)",
		"settled: it ran, said slack:alice at 14:20:00 UTC: desired is 3",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("the card lacks %q:\n%s", want, all)
		}
	}
	inc.State = incident.StateResolved
	for _, s := range IncidentCard(inc, nil).Sections {
		if strings.Contains(s.Text, "No proposal") {
			t.Error("a resolved incident's card still says why no proposal came")
		}
	}
}
