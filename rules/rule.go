package rules

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/smartcloudops/smartcloudops/remediation"
)

// InputKind says where a rule's data comes from.
type InputKind string

// Input kinds: exactly one per rule.
const (
	InputQuery InputKind = "query" // a PromQL query, each result series evaluated on its own
	InputCheck InputKind = "check" // the anomalies of one detector check
	InputAlert InputKind = "alert" // Alertmanager alerts matching label matchers
)

// Severities a rule may declare; the default is SeverityWarning.
const (
	SeverityInfo     = "info"
	SeverityWarning  = "warning"
	SeverityCritical = "critical"
)

// Defaults applied when a rule leaves a field out.
const (
	DefaultInterval     = time.Minute
	DefaultMinApprovers = 1
	DefaultExpires      = time.Hour
	DefaultRole         = "operator"
)

// Rule is one compiled rule. Rules are immutable once loaded; share them freely.
type Rule struct {
	Name        string
	Group       string
	Description string
	File        string // rule file it came from
	Line        int    // line of the rule in File
	Version     string // short hash of the rule's canonical form; changes when its meaning changes
	Severity    string
	Labels      map[string]string // added to every firing (they override series labels)

	Input InputKind
	Query string    // PromQL, for InputQuery
	Check string    // detector check name, for InputCheck
	Alert []Matcher // label matchers, for InputAlert
	When  string    // the expr condition; "" means always true

	For      time.Duration
	Interval time.Duration // the group's evaluation interval (query rules)
	Cooldown time.Duration
	MaxRuns  MaxRuns
	Action   ActionSpec
	Approval Approval
	DryRun   bool
	Enabled  bool
	Source   string // the YAML text of the rule

	col    int
	cond   *condition
	params *paramTemplate
}

// MaxRuns limits proposals per rule and series: at most Count within any window of Per.
// A zero Count means no limit.
type MaxRuns struct {
	Count int
	Per   time.Duration
}

// ActionSpec names the action a rule proposes and its raw parameters, which may hold
// text/template strings rendered when the rule fires.
type ActionSpec struct {
	Name   string
	Params map[string]any
}

// Approval is the policy a proposal of the rule must satisfy before it runs.
type Approval struct {
	Roles          []string      // roles allowed to approve; default [operator]
	MinApprovers   int           // distinct approvers needed; default 1
	AllowRequester bool          // whether the person who asked may approve
	Expires        time.Duration // how long the proposal stays approvable; default 1h
}

// Sample is one series of a query result at one time.
type Sample struct {
	Labels map[string]string
	Value  float64
	T      time.Time
}

// Observation is one point of one series of a detector check, with the series' episode after it:
// check rules watching the check evaluate every series on every tick, so `for:` and window
// functions mean what they mean for query rules.
type Observation struct {
	Labels map[string]string
	T      time.Time // the point's time
	Value  float64
	Score  float64 // the point's score
	Peak   float64 // the highest score of the open episode; 0 when none is open
	Open   bool    // the series is in an anomalous episode (its incident is open)
	Since  time.Time
	// Expected, Lower and Upper are the band the series is judged against: frozen when its
	// episode opened, the model's latest otherwise.
	Expected, Lower, Upper float64
	// Incident is the series' open incident, handed on in Firing.Incident.
	Incident string
	// Muted means the series' incident is silenced: its condition counts as false, so a silenced
	// incident proposes nothing.
	Muted bool
}

// Alert is one Alertmanager alert as received by the webhook.
type Alert struct {
	Labels, Annotations map[string]string
	Status              string // "firing" or "resolved"
	StartsAt, EndsAt    time.Time
	Fingerprint         string
	Incident            string // the incident the alert belongs to, handed on in Firing.Incident
	// Dedup names the delivery that carried the alert (an intake entry): a proposal made for it
	// carries Dedup with the rule and series in Firing.Dedup, so evaluating it again after a
	// crash proposes nothing more.
	Dedup string
}

// Firing is one proposal a rule makes for one series.
type Firing struct {
	Rule    *Rule
	Version string
	Labels  map[string]string // series labels with the rule's labels applied
	Value   float64
	Params  remediation.Params // rendered and normalized
	Key     string             // "<rule>/<series fingerprint>", stable across restarts
	T       time.Time
	// Incident is the incident behind the evaluation (check and alert rules), empty for query
	// rules.
	Incident string
	// Dedup names this firing for the proposal it makes (remediation.Request.Dedup), when the
	// event came from a delivery that may be evaluated again; empty otherwise.
	Dedup string
}

// QueryFunc runs a PromQL query at time t and returns its result series.
type QueryFunc func(ctx context.Context, query string, t time.Time) ([]Sample, error)

// Group is a named set of rules evaluated together on one interval.
type Group struct {
	Name     string
	Interval time.Duration
	File     string
	Rules    []*Rule
}

// Set is a loaded, validated rule set.
type Set struct {
	Groups []*Group
	Files  []string // rule files read, in load order
	byName map[string]*Rule
}

// Rules returns every rule of the set in file order.
func (s *Set) Rules() []*Rule {
	if s == nil {
		return nil
	}
	var out []*Rule
	for _, g := range s.Groups {
		out = append(out, g.Rules...)
	}
	return out
}

// Rule returns the rule with the given name.
func (s *Set) Rule(name string) (*Rule, bool) {
	if s == nil {
		return nil, false
	}
	r, ok := s.byName[name]
	return r, ok
}

// Len returns the number of rules in the set.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.byName)
}

func (s *Set) index() {
	s.byName = map[string]*Rule{}
	for _, g := range s.Groups {
		for _, r := range g.Rules {
			s.byName[r.Name] = r
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// MatchOp is a label matcher operator.
type MatchOp string

// Matcher operators, as in Prometheus and Alertmanager.
const (
	MatchEqual    MatchOp = "="
	MatchNotEqual MatchOp = "!="
	MatchRegexp   MatchOp = "=~"
	MatchNotRegex MatchOp = "!~"
)

// Matcher selects alerts by one label.
type Matcher struct {
	Name  string
	Op    MatchOp
	Value string
	re    *regexp.Regexp
}

// String formats the matcher as name="value".
func (m Matcher) String() string { return m.Name + string(m.Op) + strconv.Quote(m.Value) }

// Matches reports whether the label set satisfies the matcher; an absent label is "".
func (m Matcher) Matches(labels map[string]string) bool {
	v := labels[m.Name]
	switch m.Op {
	case MatchEqual:
		return v == m.Value
	case MatchNotEqual:
		return v != m.Value
	case MatchRegexp:
		return m.re.MatchString(v)
	case MatchNotRegex:
		return !m.re.MatchString(v)
	}
	return false
}

var labelNameRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// NewMatcher builds a matcher, compiling regular expressions anchored at both ends.
func NewMatcher(name string, op MatchOp, value string) (Matcher, error) {
	if !labelNameRE.MatchString(name) {
		return Matcher{}, fmt.Errorf("invalid label name %q", name)
	}
	m := Matcher{Name: name, Op: op, Value: value}
	switch op {
	case MatchEqual, MatchNotEqual:
	case MatchRegexp, MatchNotRegex:
		re, err := regexp.Compile("^(?:" + value + ")$")
		if err != nil {
			return Matcher{}, fmt.Errorf("invalid regular expression %q: %w", value, err)
		}
		m.re = re
	default:
		return Matcher{}, fmt.Errorf("unknown operator %q", op)
	}
	return m, nil
}

// ParseMatcher parses one matcher such as `alertname="HostHighCpu"` or `env=~"prod.*"`.
// The value may be unquoted when it holds no spaces or quotes.
func ParseMatcher(s string) (Matcher, error) {
	s = strings.TrimSpace(s)
	i := strings.IndexAny(s, "=!")
	if i <= 0 {
		return Matcher{}, fmt.Errorf("matcher %q: want name=\"value\", name!=\"value\", name=~\"re\" or name!~\"re\"", s)
	}
	name := strings.TrimSpace(s[:i])
	rest := s[i:]
	var op MatchOp
	for _, o := range []MatchOp{MatchRegexp, MatchNotRegex, MatchNotEqual, MatchEqual} {
		if strings.HasPrefix(rest, string(o)) {
			op = o
			break
		}
	}
	if op == "" {
		return Matcher{}, fmt.Errorf("matcher %q: unknown operator", s)
	}
	raw := strings.TrimSpace(rest[len(op):])
	value := raw
	if strings.HasPrefix(raw, `"`) || strings.HasPrefix(raw, "'") {
		if len(raw) < 2 || raw[len(raw)-1] != raw[0] {
			return Matcher{}, fmt.Errorf("matcher %q: unterminated quoted value", s)
		}
		if raw[0] == '"' {
			v, err := strconv.Unquote(raw)
			if err != nil {
				return Matcher{}, fmt.Errorf("matcher %q: bad quoted value: %w", s, err)
			}
			value = v
		} else {
			value = raw[1 : len(raw)-1]
		}
	} else if strings.ContainsAny(raw, " \t\"'") {
		return Matcher{}, fmt.Errorf("matcher %q: quote a value that holds spaces or quotes", s)
	}
	m, err := NewMatcher(name, op, value)
	if err != nil {
		return Matcher{}, fmt.Errorf("matcher %q: %w", s, err)
	}
	return m, nil
}

// ParseDuration parses a duration such as 30s, 5m, 1h30m, 2d or 1w (d is 24h, w is 7d).
// Negative durations are refused.
func ParseDuration(s string) (time.Duration, error) {
	orig := s
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty duration")
	}
	if s == "0" {
		return 0, nil
	}
	var total time.Duration
	for s != "" {
		i := 0
		for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
			i++
		}
		if i == 0 {
			return 0, fmt.Errorf("invalid duration %q: want a number and a unit (ms, s, m, h, d, w)", orig)
		}
		num, err := strconv.ParseFloat(s[:i], 64)
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q: %w", orig, err)
		}
		s = s[i:]
		j := 0
		for j < len(s) && s[j] >= 'a' && s[j] <= 'z' {
			j++
		}
		var unit time.Duration
		switch s[:j] {
		case "ms":
			unit = time.Millisecond
		case "s":
			unit = time.Second
		case "m":
			unit = time.Minute
		case "h":
			unit = time.Hour
		case "d":
			unit = 24 * time.Hour
		case "w":
			unit = 7 * 24 * time.Hour
		default:
			return 0, fmt.Errorf("invalid duration %q: want a unit of ms, s, m, h, d or w", orig)
		}
		s = s[j:]
		if num*float64(unit) > float64(1<<62) {
			return 0, fmt.Errorf("invalid duration %q: too large", orig)
		}
		total += time.Duration(num * float64(unit))
	}
	return total, nil
}

// formatDuration prints d compactly (5m rather than 5m0s).
func formatDuration(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
