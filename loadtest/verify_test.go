package loadtest

import (
	"encoding/json"
	"slices"
	"testing"
)

// stored builds the incidents and proposals a bot would have for alerts, one incident and one
// proposal each, linked both ways.
func stored(alerts ...string) ([]Incident, []Proposal) {
	var incs []Incident
	var props []Proposal
	for _, a := range alerts {
		incs = append(incs, Incident{ID: "inc-" + a, Proposals: []string{"p-" + a},
			Alerts: []IncidentAlert{{Labels: map[string]string{"alert": a}}}})
		props = append(props, proposal("p-"+a, "inc-"+a, a))
	}
	return incs, props
}

func proposal(id, inc, alert string) Proposal {
	var p Proposal
	_ = json.Unmarshal([]byte(`{"id":"`+id+`","incident":"`+inc+`","plan":{"rule":"loadtest-alert","params":{"script":"ok.sh","args":["`+alert+`"]}}}`), &p)
	return p
}

func TestCheckLoss(t *testing.T) {
	for _, tc := range []struct {
		name    string
		acked   []string
		unacked []string
		edit    func(incs []Incident, props []Proposal) ([]Incident, []Proposal)
		want    Loss
	}{
		{name: "everything kept", acked: []string{"a", "b", "c"},
			want: Loss{Acked: 3}},
		{name: "an alert acknowledged twice counts once", acked: []string{"a", "b", "a"},
			want: Loss{Acked: 2}},
		{name: "an incident lost with its proposal", acked: []string{"a", "b", "c"},
			edit: func(incs []Incident, props []Proposal) ([]Incident, []Proposal) { return incs[:2], props[:2] },
			want: Loss{Acked: 3, NoIncident: 1, NoProposal: 1, Examples: map[string][]string{"no_incident": {"c"}, "no_proposal": {"c"}}}},
		{name: "a proposal lost after its incident was recorded", acked: []string{"a", "b"},
			edit: func(incs []Incident, props []Proposal) ([]Incident, []Proposal) { return incs, props[1:] },
			want: Loss{Acked: 2, NoProposal: 1, Examples: map[string][]string{"no_proposal": {"a"}}}},
		{name: "a redelivery proposed twice", acked: []string{"a", "b"},
			edit: func(incs []Incident, props []Proposal) ([]Incident, []Proposal) {
				return incs, append(props, proposal("p-b2", "inc-b", "b"))
			},
			want: Loss{Acked: 2, DuplicateProposals: 1, Examples: map[string][]string{"duplicate_proposals": {"b"}}}},
		{name: "an alert in two incidents", acked: []string{"a", "b"},
			edit: func(incs []Incident, props []Proposal) ([]Incident, []Proposal) {
				extra, _ := stored("b")
				extra[0].ID = "inc-b2"
				return append(incs, extra[0]), props
			},
			want: Loss{Acked: 2, DuplicateIncidents: 1, Examples: map[string][]string{"duplicate_incidents": {"b"}}}},
		{name: "a proposal its incident does not list", acked: []string{"a", "b"},
			edit: func(incs []Incident, props []Proposal) ([]Incident, []Proposal) {
				incs[0].Proposals = nil
				return incs, props
			},
			want: Loss{Acked: 2, Unlinked: 1, Examples: map[string][]string{"unlinked": {"a"}}}},
		{name: "unacknowledged alerts are no loss, kept or not", acked: []string{"a"}, unacked: []string{"b", "z"},
			want: Loss{Acked: 1, Unacked: 2, UnackedRecorded: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			incs, props := stored("a", "b", "c")
			if tc.edit != nil {
				incs, props = tc.edit(incs, props)
			}
			got := CheckLoss(tc.acked, tc.unacked, incs, props)
			gb, _ := json.Marshal(got)
			wb, _ := json.Marshal(tc.want)
			if string(gb) != string(wb) {
				t.Errorf("got  %s\nwant %s", gb, wb)
			}
			if got.Lost() != (tc.want.Examples != nil) {
				t.Errorf("Lost() = %v", got.Lost())
			}
		})
	}
}

func TestCheckLossKeepsFewExamples(t *testing.T) {
	var acked []string
	for _, c := range "abcdefghij" {
		acked = append(acked, string(c))
	}
	l := CheckLoss(acked, nil, nil, nil)
	if l.NoIncident != 10 || l.NoProposal != 10 || !slices.Equal(l.Examples["no_incident"], []string{"a", "b", "c", "d", "e"}) {
		t.Errorf("loss %+v: want 10 of each counted and the first 5 named", l)
	}
}
