package incident

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/smartcloudops/smartcloudops/internal/obs"
)

const silencePrefix = "silences/"

// CheckMatcher is the matcher key that matches the name of an anomaly's check rather than a
// label of its series. Like Prometheus's internal labels it starts with "__", so no series label
// can collide with it.
const CheckMatcher = "__check__"

// Silence mutes the bot's own anomaly incidents whose labels match, until it ends. Its matchers
// are label equalities, except CheckMatcher, which matches the check name, and "check" (the key
// silences made from incidents used before), which matches a series' own "check" label when it
// has one and the check name otherwise.
type Silence struct {
	ID        string            `json:"id"`
	Matchers  map[string]string `json:"matchers"`
	StartsAt  time.Time         `json:"starts_at"`
	EndsAt    time.Time         `json:"ends_at"`
	CreatedBy string            `json:"created_by"`
	Comment   string            `json:"comment,omitempty"`
}

func (s Silence) matches(labels map[string]string, check string) bool {
	for k, v := range s.Matchers {
		got, ok := labels[k]
		switch {
		case k == CheckMatcher:
			got, ok = check, true
		case k == "check" && !ok:
			got, ok = check, true
		}
		if !ok || got != v {
			return false
		}
	}
	return len(s.Matchers) > 0
}

// Mutes reports whether the silence matches an anomaly incident, as it does when the incident's
// series reports while the silence lasts.
func (s Silence) Mutes(inc Incident) bool {
	return inc.Source == SourceDetector && s.matches(inc.Labels, inc.Check)
}

// String describes the silence for chat: its matchers and end, as in
// `s-1 check "cpu" {asg="web-asg"} until …`; the check name is shown apart from the labels.
func (s Silence) String() string {
	keys := make([]string, 0, len(s.Matchers))
	for k := range s.Matchers {
		if k != CheckMatcher {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	ms := make([]string, len(keys))
	for i, k := range keys {
		ms[i] = fmt.Sprintf("%s=%q", k, s.Matchers[k])
	}
	what := ""
	if c, ok := s.Matchers[CheckMatcher]; ok {
		what = fmt.Sprintf(" check %q", c)
	}
	if len(ms) > 0 || what == "" {
		what += " {" + strings.Join(ms, ",") + "}"
	}
	return fmt.Sprintf("%s%s until %s by %s", s.ID, what, s.EndsAt.Format(time.RFC3339), s.CreatedBy)
}

// AddSilence stores a silence lasting d.
func (m *Manager) AddSilence(ctx context.Context, matchers map[string]string, d time.Duration, by, comment string) (Silence, error) {
	if len(matchers) == 0 {
		return Silence{}, obs.UserErrorf("a silence needs at least one matcher")
	}
	if d <= 0 {
		return Silence{}, obs.UserErrorf("a silence needs a positive duration")
	}
	var b [3]byte
	_, _ = rand.Read(b[:])
	now := m.o.Now().UTC()
	s := Silence{ID: "s-" + hex.EncodeToString(b[:]), Matchers: matchers, StartsAt: now, EndsAt: now.Add(d), CreatedBy: by, Comment: comment}
	if _, err := m.o.Store.Put(ctx, silencePrefix+s.ID, mustJSON(s)); err != nil {
		return s, err
	}
	return s, nil
}

// SilenceIncident silences the labels of incident id, and its check, for d. The incident shows
// the silence at once; when it has been reported, the change is reported too, so that its card
// shows it silenced.
func (m *Manager) SilenceIncident(ctx context.Context, id string, d time.Duration, by string) (Silence, error) {
	inc, err := m.Get(ctx, id)
	if err != nil {
		return Silence{}, err
	}
	matchers := cloneLabels(inc.Labels)
	if inc.Check != "" {
		matchers[CheckMatcher] = inc.Check
	}
	s, err := m.AddSilence(ctx, matchers, d, by, "silenced from incident "+id)
	if err != nil {
		return s, err
	}
	report := false
	inc, err = m.Update(ctx, id, func(inc *Incident) {
		old := clone(*inc)
		inc.Silenced = s.ID
		report = reportable(old, *inc, Updated, false)
	})
	if err != nil {
		return s, err
	}
	m.notify(ctx, inc, Updated, report)
	return s, nil
}

// Silences returns the active silences.
func (m *Manager) Silences(ctx context.Context) ([]Silence, error) {
	kvs, err := m.o.Store.List(ctx, silencePrefix)
	if err != nil {
		return nil, err
	}
	now := m.o.Now()
	var out []Silence
	for _, kv := range kvs {
		var s Silence
		if json.Unmarshal(kv.Value, &s) == nil && now.Before(s.EndsAt) {
			out = append(out, s)
		}
	}
	return out, nil
}

// Unsilence ends a silence now.
func (m *Manager) Unsilence(ctx context.Context, id string) error {
	if _, err := m.o.Store.Get(ctx, silencePrefix+id); err != nil {
		return obs.UserErrorf("no silence %q held by the bot", id)
	}
	return m.o.Store.Delete(ctx, silencePrefix+id)
}

func (m *Manager) matchSilence(ctx context.Context, labels map[string]string, check string) (string, error) {
	ss, err := m.Silences(ctx)
	if err != nil {
		return "", err
	}
	for _, s := range ss {
		if s.matches(labels, check) {
			return s.ID, nil
		}
	}
	return "", nil
}
