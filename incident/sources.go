package incident

import (
	"context"
	"fmt"
	"maps"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/smartcloudops/smartcloudops/detector"
)

// AnomalyFingerprint identifies the incident of a check's series.
func AnomalyFingerprint(check string, labels map[string]string) string {
	return "detector/" + check + "/" + detector.Fingerprint(labels)
}

// FromAnomaly opens an incident for the anomaly's series, or updates the open one with the
// episode's latest value, score and peak. The band stays the one frozen when the episode opened.
func (m *Manager) FromAnomaly(ctx context.Context, a detector.Anomaly) (Incident, Change, error) {
	fp := AnomalyFingerprint(a.Check, a.Labels)
	sil, err := m.matchSilence(ctx, a.Labels, a.Check)
	if err != nil {
		return Incident{}, 0, err
	}
	inc, change, report, err := m.upsert(ctx, fp, anomalyChange(a, sil))
	if err != nil {
		return inc, 0, fmt.Errorf("incident for %s: %w", a.Check, err)
	}
	m.notify(ctx, inc, change, report)
	return inc, change, nil
}

// anomalyChange opens the incident of an anomaly's episode, or brings the open one up to date;
// sil is the silence muting the series, if any.
func anomalyChange(a detector.Anomaly, sil string) func(inc *Incident, isNew bool) bool {
	return func(inc *Incident, isNew bool) bool {
		if isNew {
			inc.Source, inc.Check, inc.Unit = SourceDetector, a.Check, a.Unit
			inc.Labels = cloneLabels(a.Labels)
			inc.Since = a.Since.UTC()
			inc.Expected, inc.Lower, inc.Upper = a.Expected, a.Lower, a.Upper
			inc.Title = anomalyTitle(a)
		} else {
			inc.Updates++
		}
		inc.Severity = a.Severity
		if inc.Severity == "" {
			inc.Severity = "warning"
		}
		inc.Value, inc.Score = a.Value, a.Score
		inc.Peak, inc.PeakValue = max(inc.Peak, a.Peak), a.PeakValue
		inc.Models = append([]string(nil), a.Models...)
		inc.LastSeen = a.T.UTC()
		inc.Silenced = sil
		return true
	}
}

// anomalyTitle names the check, where the episode's furthest value lies against the band frozen
// when it opened, and the series.
func anomalyTitle(a detector.Anomaly) string {
	what := a.Check + " behaves unusually" // e.g. a flatline inside the band
	switch detector.Direction(a.PeakValue, a.Lower, a.Upper) {
	case "above":
		what = a.Check + " above the expected band"
	case "below":
		what = a.Check + " below the expected band"
	}
	where := labelSummary(a.Labels)
	if where != "" {
		where = " on " + where
	}
	return what + where
}

// labelSummary lists the identifying labels of a series for a title, short ones first.
func labelSummary(l map[string]string) string {
	keys := make([]string, 0, len(l))
	for k := range l {
		if k != "__name__" && k != "metric" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+l[k])
	}
	return strings.Join(parts, ", ")
}

// ResolutionStale is the Resolution of an anomaly incident whose series stopped reporting and was
// forgotten by the detector while still anomalous.
const ResolutionStale = "the series stopped reporting"

// FromRecovery resolves the incident of a series that is normal again, or that stopped reporting.
func (m *Manager) FromRecovery(ctx context.Context, r detector.Recovery) (Incident, Change, error) {
	how := ""
	if r.Stale {
		how = ResolutionStale
	}
	return m.resolve(ctx, AnomalyFingerprint(r.Check, r.Labels), r.T, how)
}

// resolve resolves the open incident with fingerprint fp at t; how, when not empty, says how it
// ended other than by returning to normal.
func (m *Manager) resolve(ctx context.Context, fp string, t time.Time, how string) (Incident, Change, error) {
	if _, err := m.o.Store.Get(ctx, fpPrefix+fp); err != nil {
		return Incident{}, 0, nil // nothing open: nothing to resolve
	}
	inc, change, report, err := m.upsert(ctx, fp, resolveChange(t, how))
	if err != nil {
		return inc, 0, err
	}
	m.notify(ctx, inc, change, report)
	return inc, change, nil
}

// AlertGroup is one Alertmanager notification, reduced to what incidents need.
type AlertGroup struct {
	GroupKey     string
	Status       string // firing or resolved
	Receiver     string
	GroupLabels  map[string]string
	CommonLabels map[string]string
	CommonAnnots map[string]string
	Alerts       []Alert
	// Mark, when set, is a store key written in the same transaction as the change the
	// notification makes, and only when it makes one: a caller that processes notifications
	// from a queue can tell after a crash whether this one was recorded. It holds the
	// incident's ID, and when the change is one that is audited (AlertGroupResult.Audited) the
	// change too, until the caller writes the ID alone with the audit record (see ParseMark).
	Mark string
}

// FromAlertGroup opens or updates the incident of an Alertmanager group. A notification that
// changes nothing (a redelivery) changes nothing here either; a resolved notification resolves
// the incident.
func (m *Manager) FromAlertGroup(ctx context.Context, g AlertGroup) (Incident, Change, error) {
	fp := "alertmanager/" + g.GroupKey
	inc, change, report, err := m.upsert(ctx, fp, m.alertGroupChange(g))
	if err != nil {
		return inc, 0, fmt.Errorf("incident for alert group %q: %w", g.GroupKey, err)
	}
	m.notify(ctx, inc, change, report)
	return inc, change, nil
}

// AlertGroupResult is what one notification did: its incident, and whether it changed anything
// (a redelivery changes nothing).
type AlertGroupResult struct {
	Incident Incident
	Changed  bool
	// Audited is the change when it is one that is reported and audited (an opening or a
	// resolution), or 0.
	Audited Change
}

// ParseMark reads what an AlertGroup's Mark holds: the incident's ID, and the change whose audit
// record was not yet written with it (0 when there is none, or when an earlier release wrote
// the mark).
func ParseMark(v []byte) (id string, pending Change) {
	id, c, ok := strings.Cut(string(v), "\n")
	if !ok {
		return id, 0
	}
	switch c {
	case Opened.String():
		return id, Opened
	case Resolved.String():
		return id, Resolved
	}
	return id, 0
}

// ApplyAlertGroups records Alertmanager notifications in order, in as few store transactions of
// at most store.MaxTxnOps as it can, like ApplyTick; the i-th result belongs to gs[i]. Notifications it
// could not record are counted in the error, and their results are not Changed.
func (m *Manager) ApplyAlertGroups(ctx context.Context, gs []AlertGroup) ([]AlertGroupResult, error) {
	changes := make([]change, len(gs))
	for i, g := range gs {
		changes[i] = change{fp: "alertmanager/" + g.GroupKey, key: strconv.Itoa(i), fn: m.alertGroupChange(g), mark: g.Mark}
	}
	out, lost, err := m.apply(ctx, changes)
	res := make([]AlertGroupResult, len(gs))
	for i := range gs {
		a, ok := out[strconv.Itoa(i)]
		res[i] = AlertGroupResult{Incident: a.inc, Changed: ok, Audited: a.audited}
	}
	if lost > 0 {
		return res, fmt.Errorf("%d of %d alert notifications not recorded: %w", lost, len(gs), err)
	}
	return res, nil
}

// alertGroupChange opens or updates the incident of an Alertmanager group. A notification that
// changes nothing (a redelivery), or that resolves a group with no open incident, changes
// nothing; a resolved notification resolves the incident.
func (m *Manager) alertGroupChange(g AlertGroup) func(inc *Incident, isNew bool) bool {
	return func(inc *Incident, isNew bool) bool {
		if isNew && g.Status == "resolved" {
			return false // already resolved, or never seen: a redelivery
		}
		if isNew {
			inc.Source, inc.GroupKey, inc.GroupLabels = SourceAlertmanager, g.GroupKey, cloneLabels(g.GroupLabels)
			inc.Since = earliest(g.Alerts)
		}
		merged, changed := mergeAlerts(inc.Alerts, g.Alerts)
		if !changed && !isNew {
			return false
		}
		if !isNew {
			inc.Updates++
		}
		inc.Alerts = merged
		inc.Labels = cloneLabels(g.CommonLabels)
		inc.Annotations = maps.Clone(g.CommonAnnots)
		inc.Severity = g.CommonLabels["severity"]
		if inc.Severity == "" {
			inc.Severity = "warning"
		}
		inc.Title = alertTitle(g, merged)
		inc.LastSeen = m.o.Now().UTC()
		if g.Status == "resolved" {
			inc.State, inc.ResolvedAt = StateResolved, m.o.Now().UTC()
		}
		return true
	}
}

func earliest(as []Alert) time.Time {
	var t time.Time
	for _, a := range as {
		if t.IsZero() || a.StartsAt.Before(t) {
			t = a.StartsAt
		}
	}
	return t.UTC()
}

// mergeAlerts folds new alert states into the known ones by fingerprint.
func mergeAlerts(old, in []Alert) ([]Alert, bool) {
	idx := map[string]int{}
	out := append([]Alert(nil), old...)
	for i, a := range out {
		idx[a.Fingerprint] = i
	}
	changed := false
	for _, a := range in {
		i, ok := idx[a.Fingerprint]
		if !ok {
			idx[a.Fingerprint] = len(out)
			out = append(out, a)
			changed = true
			continue
		}
		if out[i].Status != a.Status || !out[i].EndsAt.Equal(a.EndsAt) && a.Status == "resolved" {
			out[i] = a
			changed = true
		}
	}
	return out, changed
}

func alertTitle(g AlertGroup, as []Alert) string {
	name := g.CommonLabels["alertname"]
	if name == "" {
		name = g.GroupLabels["alertname"]
	}
	if name == "" {
		name = "alerts"
	}
	firing := 0
	for _, a := range as {
		if a.Status == "firing" {
			firing++
		}
	}
	where := labelSummary(g.GroupLabels)
	if where != "" && where != "alertname="+name {
		where = " (" + strings.TrimPrefix(strings.ReplaceAll(where, "alertname="+name+", ", ""), "alertname="+name) + ")"
	} else {
		where = ""
	}
	return fmt.Sprintf("%s%s: %d of %d firing", name, where, firing, len(as))
}

// ResolutionGone is the Resolution of an Alertmanager incident whose alerts Alertmanager stopped
// listing without sending a resolved notification (it sends none for silenced or inhibited
// alerts).
const ResolutionGone = "Alertmanager no longer lists its alerts"

// ExpireAlerts marks the firing alerts with the given fingerprints of the open Alertmanager
// incident of groupKey as resolved at t, because Alertmanager no longer lists them; when none is
// left firing the incident resolves with ResolutionGone. It returns the alerts it marked.
func (m *Manager) ExpireAlerts(ctx context.Context, groupKey string, fingerprints []string, t time.Time) ([]Alert, Change, error) {
	fp := "alertmanager/" + groupKey
	if _, err := m.o.Store.Get(ctx, fpPrefix+fp); err != nil {
		return nil, 0, nil // resolved meanwhile
	}
	gone := map[string]bool{}
	for _, f := range fingerprints {
		gone[f] = true
	}
	var expired []Alert
	inc, change, report, err := m.upsert(ctx, fp, func(inc *Incident, isNew bool) bool {
		if isNew {
			return false
		}
		expired = expired[:0]
		firing := 0
		for i, a := range inc.Alerts {
			switch {
			case a.Status == "firing" && gone[a.Fingerprint]:
				inc.Alerts[i].Status, inc.Alerts[i].EndsAt = "resolved", t.UTC()
				expired = append(expired, inc.Alerts[i])
			case a.Status == "firing":
				firing++
			}
		}
		if len(expired) == 0 {
			return false
		}
		inc.Updates++
		inc.Title = alertTitle(AlertGroup{GroupLabels: inc.GroupLabels, CommonLabels: inc.Labels}, inc.Alerts)
		if firing == 0 {
			inc.State, inc.ResolvedAt, inc.Resolution = StateResolved, t.UTC(), ResolutionGone
		}
		return true
	})
	if err != nil {
		return nil, 0, fmt.Errorf("expire alerts of group %q: %w", groupKey, err)
	}
	m.notify(ctx, inc, change, report)
	return expired, change, nil
}

// resolveChange resolves an open incident at t; how, when not empty, says how it ended other
// than by returning to normal.
func resolveChange(t time.Time, how string) func(inc *Incident, isNew bool) bool {
	return func(inc *Incident, isNew bool) bool {
		if isNew {
			return false
		}
		inc.State, inc.ResolvedAt, inc.Resolution = StateResolved, t.UTC(), how
		return true
	}
}
