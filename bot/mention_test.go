package bot

import (
	"reflect"
	"testing"

	"github.com/smartcloudops/smartcloudops/incident"
	"github.com/smartcloudops/smartcloudops/remediation"
)

// TestCardsCarryMentions checks that a card names its chat users as mentions for their own
// platform's adapter, and leaves out rules, API keys and the bot.
func TestCardsCarryMentions(t *testing.T) {
	alice := remediation.Actor{ID: "slack:U2", Name: "slack:alice"}
	bob := remediation.Actor{ID: "discord:42", Name: "discord:Bob"}
	props := []remediation.Proposal{
		{ID: "p-1", State: remediation.StateApproved, Requester: remediation.Actor{ID: "rule:web", Name: "rule web"}, DecidedBy: &alice},
		{ID: "p-2", State: remediation.StateRejected, Requester: bob, DecidedBy: &remediation.Actor{ID: "api:ci", Name: "api key ci"}},
		{ID: "p-3", State: remediation.StateApproved, Requester: alice, DecidedBy: &bob},
	}
	want := []Mention{{Text: "slack:alice", Platform: "slack", ID: "U2"}, {Text: "discord:Bob", Platform: "discord", ID: "42"}}
	inc := incident.Incident{ID: "inc-1", Title: "cpu high", State: incident.StateOpen}
	if got := IncidentCard(inc, props).Mentions; !reflect.DeepEqual(got, want) {
		t.Errorf("incident card mentions %+v, want %+v", got, want)
	}
	if got := GroupCard(Group{ID: "g-1", Items: []CardItem{{Incident: inc, Proposals: props}}}).Mentions; !reflect.DeepEqual(got, want) {
		t.Errorf("grouped card mentions %+v, want %+v", got, want)
	}
	if got := ProposalCard(props[2]).Mentions; !reflect.DeepEqual(got, []Mention{want[0], want[1]}) {
		t.Errorf("proposal card mentions %+v", got)
	}
}
