package api

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/smartcloudops/smartcloudops/detector"
	"github.com/smartcloudops/smartcloudops/incident"
	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/remediation"
	"github.com/smartcloudops/smartcloudops/remediation/audit"
)

// listIncidents reads one page of the incidents' time-ordered index, and only that page.
func (a *API) listIncidents(w http.ResponseWriter, r *http.Request, _ Key) error {
	p, e := pageOf(r)
	if e != nil {
		return e
	}
	q := incident.PageQuery{Limit: p.limit}
	switch state := r.URL.Query().Get("state"); state {
	case "", incident.StateOpen:
		q.State = incident.StateOpen
	case incident.StateResolved:
		q.State = incident.StateResolved
	case "all":
	default:
		return badRequest("state %s: want open, resolved or all", quoteClipped(state))
	}
	if q.After, e = p.position(); e != nil {
		return e
	}
	pg, err := a.o.Incidents.ListPage(r.Context(), q)
	if err != nil {
		return fmt.Errorf("list incidents: %w", err)
	}
	return writeJSON(w, http.StatusOK, indexPage(pg.Incidents, pg.Next))
}

// indexPage is the answer of a list read from a time-ordered index.
func indexPage[T any](items []T, next string) list[T] {
	out := list[T]{Items: items}
	if out.Items == nil {
		out.Items = []T{}
	}
	if next != "" {
		out.NextCursor = positionCursor(next)
	}
	return out
}

func (a *API) getIncident(w http.ResponseWriter, r *http.Request, _ Key) error {
	id := r.PathValue("id")
	inc, err := a.o.Incidents.Get(r.Context(), id)
	if obs.IsUser(err) {
		return notFound("no incident %s", quoteClipped(id))
	}
	if err != nil {
		return fmt.Errorf("get incident %q: %w", id, err)
	}
	return writeJSON(w, http.StatusOK, inc)
}

// proposalStates reads ?state=: pending when absent, "all", or a comma-separated list of states.
func proposalStates(q string) ([]remediation.State, *Error) {
	switch q {
	case "":
		return []remediation.State{remediation.StatePending}, nil
	case "all":
		return nil, nil
	}
	var out []remediation.State
	for s := range strings.SplitSeq(q, ",") {
		st := remediation.State(strings.TrimSpace(s))
		if !slices.Contains(remediation.States, st) {
			names := make([]string, len(remediation.States))
			for i, k := range remediation.States {
				names[i] = string(k)
			}
			return nil, badRequest("state %s: want all or any of %s, comma-separated", quoteClipped(s), strings.Join(names, ", "))
		}
		out = append(out, st)
	}
	return out, nil
}

// listProposals reads one page of the proposals' time-ordered index, and only that page.
func (a *API) listProposals(w http.ResponseWriter, r *http.Request, _ Key) error {
	p, e := pageOf(r)
	if e != nil {
		return e
	}
	states, e := proposalStates(r.URL.Query().Get("state"))
	if e != nil {
		return e
	}
	q := remediation.PageQuery{States: states, Limit: p.limit}
	if q.After, e = p.position(); e != nil {
		return e
	}
	pg, err := a.o.Proposals.ListPage(r.Context(), q)
	if err != nil {
		return fmt.Errorf("list proposals: %w", err)
	}
	return writeJSON(w, http.StatusOK, indexPage(pg.Proposals, pg.Next))
}

func (a *API) getProposal(w http.ResponseWriter, r *http.Request, _ Key) error {
	id := r.PathValue("id")
	p, err := a.o.Proposals.Get(r.Context(), id)
	if obs.IsUser(err) {
		return notFound("no proposal %s", quoteClipped(id))
	}
	if err != nil {
		return fmt.Errorf("get proposal %q: %w", id, err)
	}
	return writeJSON(w, http.StatusOK, p)
}

// ruleView is a rule as the API shows it; Source, the rule's YAML, only on the single rule.
type ruleView struct {
	Name      string    `json:"name"`
	Group     string    `json:"group,omitempty"`
	Version   string    `json:"version,omitempty"`
	Input     string    `json:"input,omitempty"`
	Action    string    `json:"action,omitempty"`
	File      string    `json:"file,omitempty"`
	Enabled   bool      `json:"enabled"`
	Firing    int       `json:"firing"`
	LastFired time.Time `json:"last_fired,omitzero"`
	Source    string    `json:"source,omitempty"`
}

func (a *API) listRules(w http.ResponseWriter, r *http.Request, _ Key) error {
	p, e := pageOf(r)
	if e != nil {
		return e
	}
	var views []ruleView
	if a.o.Rules != nil {
		for _, ri := range a.o.Rules.List() {
			views = append(views, ruleView{Name: ri.Name, Group: ri.Group, Version: ri.Version, Input: ri.Input, Action: ri.Action,
				File: ri.File, Enabled: ri.Enabled, Firing: ri.Firing, LastFired: ri.LastFired})
		}
	}
	slices.SortFunc(views, func(x, y ruleView) int { return strings.Compare(x.Name, y.Name) })
	views = slices.CompactFunc(views, func(x, y ruleView) bool { return x.Name == y.Name })
	out, e := paginate(views, func(v ruleView) string { return v.Name }, false, p)
	if e != nil {
		return e
	}
	return writeJSON(w, http.StatusOK, out)
}

func (a *API) getRule(w http.ResponseWriter, r *http.Request, _ Key) error {
	name := r.PathValue("name")
	if a.o.Rules == nil {
		return notFound("no rule %s: no rules are loaded", quoteClipped(name))
	}
	ri, ok := a.o.Rules.Show(name)
	if !ok {
		return notFound("no rule %s", quoteClipped(name))
	}
	return writeJSON(w, http.StatusOK, ruleView{Name: ri.Name, Group: ri.Group, Version: ri.Version, Input: ri.Input, Action: ri.Action,
		File: ri.File, Enabled: ri.Enabled, Firing: ri.Firing, LastFired: ri.LastFired, Source: ri.Source})
}

// parseSince reads an RFC 3339 time, or a duration before now such as 24h or 7d.
func parseSince(s string, now time.Time) (time.Time, *Error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	d, err := ParseDuration(s)
	if err != nil {
		return time.Time{}, badRequest("since %s: want an RFC 3339 time such as 2026-01-02T15:04:05Z or a duration such as 24h or 7d", quoteClipped(s))
	}
	return now.Add(-d), nil
}

func (a *API) listAudit(w http.ResponseWriter, r *http.Request, _ Key) error {
	p, e := pageOf(r)
	if e != nil {
		return e
	}
	q := r.URL.Query()
	f := audit.Filter{Proposal: q.Get("proposal"), Rule: q.Get("rule")}
	if s := q.Get("since"); s != "" {
		if f.Since, e = parseSince(s, a.o.Now()); e != nil {
			return e
		}
	}
	recs, err := a.o.Audit.List(r.Context(), f)
	if err != nil {
		return fmt.Errorf("list audit records: %w", err)
	}
	out, e := paginate(recs, func(rec audit.Record) string { return fmt.Sprintf("%020d", rec.Seq) }, false, p)
	if e != nil {
		return e
	}
	return writeJSON(w, http.StatusOK, out)
}

// band is the range the model expected a value in.
type band struct {
	Lower float64 `json:"lower"`
	Upper float64 `json:"upper"`
}

// anomalyView is one series in an anomalous span now.
type anomalyView struct {
	Check    string            `json:"check"`
	Labels   map[string]string `json:"labels"`
	Incident string            `json:"incident"`
	Severity string            `json:"severity,omitempty"`
	Unit     string            `json:"unit,omitempty"`
	Value    float64           `json:"value"`
	Expected float64           `json:"expected"`
	Band     band              `json:"band"`
	Score    float64           `json:"score"`
	Since    time.Time         `json:"since"`
	At       time.Time         `json:"at"` // time of the value
	Models   []string          `json:"models,omitempty"`
	Silenced string            `json:"silenced,omitempty"`
}

// listAnomalies lists the series in an anomalous span now: the open detector incidents, with the
// detector's latest scored point of each series when it has one.
func (a *API) listAnomalies(w http.ResponseWriter, r *http.Request, _ Key) error {
	p, e := pageOf(r)
	if e != nil {
		return e
	}
	check := r.URL.Query().Get("check")
	if check != "" && a.o.Detector != nil && !slices.ContainsFunc(a.o.Detector.Status(), func(s detector.CheckStatus) bool { return s.Name == check }) {
		return notFound("no check %s", quoteClipped(check))
	}
	incs, err := a.o.Incidents.List(r.Context(), false)
	if err != nil {
		return fmt.Errorf("list incidents: %w", err)
	}
	var out []anomalyView
	for _, inc := range incs {
		if inc.Source != incident.SourceDetector || (check != "" && inc.Check != check) {
			continue
		}
		v := anomalyView{Check: inc.Check, Labels: inc.Labels, Incident: inc.ID, Severity: inc.Severity, Unit: inc.Unit,
			Value: inc.Value, Expected: inc.Expected, Band: band{inc.Lower, inc.Upper}, Score: inc.Score, Since: inc.Since,
			At: inc.LastSeen, Models: inc.Models, Silenced: inc.Silenced}
		if a.o.Detector != nil {
			if pt, ok := a.o.Detector.Latest(inc.Check, inc.Labels); ok && !pt.T.Before(inc.LastSeen) {
				v.Value, v.Expected, v.Band, v.Score, v.At = pt.V, pt.Expected, band{pt.Lower, pt.Upper}, pt.Score, pt.T
			}
		}
		out = append(out, v)
	}
	key := func(v anomalyView) string { return v.Check + "\x00" + v.Incident }
	slices.SortFunc(out, func(x, y anomalyView) int { return strings.Compare(key(x), key(y)) })
	pg, e := paginate(out, key, false, p)
	if e != nil {
		return e
	}
	return writeJSON(w, http.StatusOK, pg)
}
