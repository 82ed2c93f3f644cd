package rules

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"time"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"

	"github.com/smartcloudops/smartcloudops/detector"
	"github.com/smartcloudops/smartcloudops/detector/eval"
	"github.com/smartcloudops/smartcloudops/internal/store"
	"github.com/smartcloudops/smartcloudops/remediation"
)

// backtestLookback is how far back a point still counts as the series' value, as in PromQL.
const backtestLookback = 5 * time.Minute

// maxBacktestSteps caps the evaluations of one group in one backtest.
const maxBacktestSteps = 1_000_000

// RangePoint is one point of a historical series.
type RangePoint struct {
	T time.Time
	V float64
}

// RangeSeries is one historical series of a query rule's query result.
type RangeSeries struct {
	Labels map[string]string
	Points []RangePoint // in time order
}

// RangeFunc returns the history of a query rule's result between from and to.
type RangeFunc func(ctx context.Context, r *Rule, from, to time.Time, step time.Duration) ([]RangeSeries, error)

// BacktestOptions configures Backtest. From and To are required.
type BacktestOptions struct {
	From, To time.Time
	Step     time.Duration // evaluation step; 0 uses each group's interval
	// Check says how a detector check scores its series, for the check rules that watch it: the
	// history is replayed through the check's model and lifecycle point by point, as the live
	// check would have scored it. Nil skips check rules.
	Check func(name string) BacktestCheck
}

// BacktestCheck is how a detector check scores its series in a backtest.
type BacktestCheck struct {
	Model     detector.Factory
	Lifecycle detector.Lifecycle
}

// backtestLead is how many steps of history before From a check's model learns from, so that it
// has warmed up when the backtest begins.
const backtestLead = 200

// BacktestReport says how each rule would have behaved over the range.
type BacktestReport struct {
	From, To time.Time
	Rules    []BacktestRule
}

// BacktestRule is one rule's backtest.
type BacktestRule struct {
	Name, Group string
	Skipped     string      // why the rule was not replayed (check and alert rules), or ""
	Evaluations int         // ticks evaluated
	Series      int         // distinct series seen
	Fired       []time.Time // times a series entered firing
	Proposals   []BacktestProposal
	Errors      int
	FirstError  string
}

// BacktestProposal is one proposal the rule would have made.
type BacktestProposal struct {
	T      time.Time
	Labels map[string]string
	Params remediation.Params
}

// Backtest replays history through the same evaluator as live ticks: for each query rule it
// fetches the range once, then calls EvalQueryGroup at every step with a QueryFunc answered
// from that data, so for, cooldown and max_runs apply as they would have.
func Backtest(ctx context.Context, set *Set, data RangeFunc, o BacktestOptions) (BacktestReport, error) {
	if !o.To.After(o.From) {
		return BacktestReport{}, fmt.Errorf("backtest: --to %s is not after --from %s", o.To.Format(time.RFC3339), o.From.Format(time.RFC3339))
	}
	if o.Step < 0 {
		return BacktestReport{}, fmt.Errorf("backtest: negative step %s", o.Step)
	}
	rep := BacktestReport{From: o.From, To: o.To}
	byRule := map[string]*BacktestRule{}
	history := map[string][]RangeSeries{} // by query text
	for _, g := range set.Groups {
		step := stepFor(g, o)
		if int(o.To.Sub(o.From)/step) > maxBacktestSteps {
			return BacktestReport{}, fmt.Errorf("backtest: group %s: more than %d steps of %s; use a larger --step", g.Name, maxBacktestSteps, step)
		}
		for _, r := range g.Rules {
			br := &BacktestRule{Name: r.Name, Group: r.Group}
			byRule[r.Name] = br
			rep.Rules = append(rep.Rules, *br)
			switch {
			case r.Input == InputCheck && o.Check != nil:
				continue // replayed below, series by series
			case r.Input == InputCheck:
				br.Skipped = "check rule: no check to score the history with"
				continue
			case r.Input != InputQuery:
				br.Skipped = fmt.Sprintf("%s rule: alerts are not kept as history", r.Input)
				continue
			}
			if _, done := history[r.Query]; done {
				continue
			}
			series, err := data(ctx, r, o.From, o.To, step)
			if err != nil {
				return BacktestReport{}, fmt.Errorf("backtest: rule %s: fetch history: %w", r.Name, err)
			}
			history[r.Query] = series
		}
	}
	var cur time.Time
	e, err := NewEngine(EngineOptions{
		Store:      store.NewMemory(),
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		Registerer: prometheus.NewRegistry(),
		Now:        func() time.Time { return cur },
		Query: func(_ context.Context, q string, t time.Time) ([]Sample, error) {
			return samplesAt(history[q], t), nil
		},
		OnFire: func(_ context.Context, f Firing) error {
			br := byRule[f.Rule.Name]
			br.Proposals = append(br.Proposals, BacktestProposal{T: f.T, Labels: f.Labels, Params: f.Params})
			return nil
		},
	})
	if err != nil {
		return BacktestReport{}, err
	}
	e.SetRules(set)
	seen := map[string]map[uint64]bool{}
	for _, g := range set.Groups {
		if !hasQueryRules(g) {
			continue
		}
		step := stepFor(g, o)
		for cur = o.From; !cur.After(o.To); cur = cur.Add(step) {
			if err := ctx.Err(); err != nil {
				return BacktestReport{}, err
			}
			ruleErrs, err := e.evalGroup(ctx, g.Name, cur)
			if err != nil {
				return BacktestReport{}, fmt.Errorf("backtest: %w", err)
			}
			for _, r := range g.Rules {
				if r.Input != InputQuery || !r.Enabled {
					continue
				}
				br := byRule[r.Name]
				br.Evaluations++
				if err := ruleErrs[r.Name]; err != nil {
					br.Errors++
					if br.FirstError == "" {
						br.FirstError = err.Error()
					}
				}
				e.noteFired(r.Name, cur, br, seen)
			}
		}
	}
	if o.Check != nil {
		for _, g := range set.Groups {
			for _, r := range g.Rules {
				if r.Input != InputCheck || !r.Enabled {
					continue
				}
				if err := backtestCheckRule(ctx, g, r, data, o, byRule[r.Name]); err != nil {
					return BacktestReport{}, err
				}
			}
		}
	}
	for i := range rep.Rules {
		rep.Rules[i] = *byRule[rep.Rules[i].Name]
	}
	return rep, nil
}

// backtestCheckRule replays the history of check rule r: each series goes through the check's
// model and lifecycle point by point, learning from the lead before From, and the rule is
// evaluated at every point from From on, exactly as EvalCheck evaluates it live.
func backtestCheckRule(ctx context.Context, g *Group, r *Rule, data RangeFunc, o BacktestOptions, br *BacktestRule) error {
	chk := o.Check(r.Check)
	if chk.Model == nil {
		br.Skipped = fmt.Sprintf("check rule: no model for check %q", r.Check)
		return nil
	}
	step := stepFor(g, o)
	series, err := data(ctx, r, o.From.Add(-backtestLead*step), o.To, step)
	if err != nil {
		return fmt.Errorf("backtest: rule %s: fetch history: %w", r.Name, err)
	}
	one := &Set{Groups: []*Group{{Name: g.Name, Interval: g.Interval, Rules: []*Rule{r}}}}
	one.index()
	scored := 0 // series with a point in the range
	defer func() { br.Series = scored }()
	for _, s := range series {
		var cur time.Time
		e, err := NewEngine(EngineOptions{
			Store: store.NewMemory(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Registerer: prometheus.NewRegistry(),
			Now: func() time.Time { return cur },
			OnFire: func(_ context.Context, f Firing) error {
				br.Proposals = append(br.Proposals, BacktestProposal{T: f.T, Labels: f.Labels, Params: f.Params})
				return nil
			},
		})
		if err != nil {
			return err
		}
		e.SetRules(one)
		m := chk.Model()
		var ep detector.Episode
		seen := map[string]map[uint64]bool{}
		for _, p := range s.Points {
			if err := ctx.Err(); err != nil {
				return err
			}
			sc := m.Observe(detector.Point{T: p.T, V: p.V})
			pt := detector.Scored{Point: detector.Point{T: p.T, V: p.V}, Score: sc.Score, Expected: sc.Expected, Lower: sc.Lower, Upper: sc.Upper}
			chk.Lifecycle.Step(&ep, pt, sc.Models)
			if p.T.Before(o.From) || p.T.After(o.To) {
				continue
			}
			cur = p.T
			ob := Observation{Labels: s.Labels, T: p.T, Value: p.V, Score: sc.Score,
				Expected: sc.Expected, Lower: sc.Lower, Upper: sc.Upper}
			if ep.Open() {
				ob.Open, ob.Since, ob.Peak = true, ep.Since, ep.Peak
				ob.Expected, ob.Lower, ob.Upper = ep.Expected, ep.Lower, ep.Upper
			}
			br.Evaluations++
			if err := e.EvalCheck(ctx, CheckTick{Check: r.Check, T: p.T, Series: []Observation{ob}}); err != nil {
				br.Errors++
				if br.FirstError == "" {
					br.FirstError = err.Error()
				}
			}
			e.noteFired(r.Name, p.T, br, seen)
		}
		if len(seen[r.Name]) > 0 || inRange(s.Points, o.From, o.To) {
			scored++
		}
	}
	return nil
}

// inRange reports whether any point lies in [from, to].
func inRange(pts []RangePoint, from, to time.Time) bool {
	for _, p := range pts {
		if !p.T.Before(from) && !p.T.After(to) {
			return true
		}
	}
	return false
}

func stepFor(g *Group, o BacktestOptions) time.Duration {
	if o.Step > 0 {
		return o.Step
	}
	return g.Interval
}

// noteFired records series of the rule that entered firing at t.
func (e *Engine) noteFired(name string, t time.Time, br *BacktestRule, seen map[string]map[uint64]bool) {
	rt, ok := e.runtime(name)
	if !ok {
		return
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if seen[name] == nil {
		seen[name] = map[uint64]bool{}
	}
	for fp, s := range rt.series {
		seen[name][fp] = true
		if s.FiredAt.Equal(t) && s.LastEval.Equal(t) {
			br.Fired = append(br.Fired, t)
		}
	}
	br.Series = len(seen[name])
}

// samplesAt returns each series' latest point at or before t within the lookback.
func samplesAt(series []RangeSeries, t time.Time) []Sample {
	var out []Sample
	for _, s := range series {
		i := sort.Search(len(s.Points), func(i int) bool { return s.Points[i].T.After(t) }) - 1
		if i < 0 || t.Sub(s.Points[i].T) >= backtestLookback {
			continue
		}
		out = append(out, Sample{Labels: s.Labels, Value: s.Points[i].V, T: s.Points[i].T})
	}
	return out
}

// String renders the report: per rule, how often and when it would have fired and proposed.
func (r BacktestReport) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "backtest %s .. %s\n", r.From.UTC().Format(time.RFC3339), r.To.UTC().Format(time.RFC3339))
	for _, br := range r.Rules {
		if br.Skipped != "" {
			fmt.Fprintf(&b, "%s: skipped (%s)\n", br.Name, br.Skipped)
			continue
		}
		fmt.Fprintf(&b, "%s: %d evaluations, %d series, fired %d times, proposed %d times", br.Name, br.Evaluations, br.Series, len(br.Fired), len(br.Proposals))
		if br.Errors > 0 {
			fmt.Fprintf(&b, ", %d failed evaluations (first: %s)", br.Errors, br.FirstError)
		}
		b.WriteByte('\n')
		for _, p := range br.Proposals {
			fmt.Fprintf(&b, "  proposed %s %s\n", p.T.UTC().Format(time.RFC3339), formatProposal(p.Labels, p.Params))
		}
		if len(br.Fired) > 0 {
			var ts []string
			for _, t := range br.Fired {
				ts = append(ts, t.UTC().Format(time.RFC3339))
			}
			fmt.Fprintf(&b, "  fired at %s\n", strings.Join(ts, ", "))
		}
	}
	return b.String()
}

// maxCSVRows caps the rows a backtest CSV may hold.
const maxCSVRows = 5_000_000

// RuleLabel is the pseudo-label of a backtest CSV row that limits the row to one rule.
const RuleLabel = "__rule__"

// PrometheusRange answers backtests from a Prometheus server: one QueryRange per rule query
// over the whole range.
func PrometheusRange(api promv1.API) RangeFunc {
	return func(ctx context.Context, r *Rule, from, to time.Time, step time.Duration) ([]RangeSeries, error) {
		v, _, _, err := api.QueryRange(ctx, r.Query, promv1.Range{Start: from, End: to, Step: step})
		if err != nil {
			return nil, fmt.Errorf("query_range %q: %w", r.Query, err)
		}
		m, ok := v.(model.Matrix)
		if !ok {
			return nil, fmt.Errorf("query_range %q: got a %s, want a matrix", r.Query, v.Type())
		}
		out := make([]RangeSeries, 0, len(m))
		for _, ss := range m {
			rs := RangeSeries{Labels: make(map[string]string, len(ss.Metric)), Points: make([]RangePoint, 0, len(ss.Values))}
			for k, v := range ss.Metric {
				rs.Labels[string(k)] = string(v)
			}
			for _, p := range ss.Values {
				rs.Points = append(rs.Points, RangePoint{T: p.Timestamp.Time().UTC(), V: float64(p.Value)})
			}
			out = append(out, rs)
		}
		return out, nil
	}
}

// ReadCSV reads backtest history from CSV rows "timestamp,value[,label=value...]", with an
// optional header row starting with "timestamp". The timestamp is RFC 3339, "2006-01-02
// 15:04:05" (UTC) or Unix seconds, as in the files `detect train` reads.
// Rows with the same labels form one series. Every query rule sees every series as its
// query's result, except that a row with the label __rule__=NAME is seen by that rule only.
func ReadCSV(r io.Reader) (RangeFunc, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	series := map[string]*RangeSeries{}
	var order []string
	for row := 1; ; row++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("csv: %w", err)
		}
		if row > maxCSVRows {
			return nil, fmt.Errorf("csv: more than %d rows", maxCSVRows)
		}
		if row == 1 && strings.EqualFold(strings.TrimSpace(rec[0]), "timestamp") {
			continue
		}
		if len(rec) < 2 {
			return nil, fmt.Errorf("csv row %d: want timestamp,value[,label=value...]", row)
		}
		t, err := parseCSVTime(strings.TrimSpace(rec[0]))
		if err != nil {
			return nil, fmt.Errorf("csv row %d: timestamp %q: %w", row, rec[0], err)
		}
		v, err := parseValue(strings.TrimSpace(rec[1]))
		if err != nil {
			return nil, fmt.Errorf("csv row %d: value %q is not a number", row, rec[1])
		}
		labels := map[string]string{}
		for _, f := range rec[2:] {
			name, val, ok := strings.Cut(strings.TrimSpace(f), "=")
			if !ok || (name != RuleLabel && !labelNameRE.MatchString(name)) {
				return nil, fmt.Errorf("csv row %d: %q is not label=value", row, f)
			}
			labels[name] = val
		}
		id := labelString(labels)
		s, ok := series[id]
		if !ok {
			s = &RangeSeries{Labels: labels}
			series[id] = s
			order = append(order, id)
		}
		s.Points = append(s.Points, RangePoint{T: t, V: v})
	}
	all := make([]RangeSeries, 0, len(order))
	for _, id := range order {
		s := series[id]
		sort.SliceStable(s.Points, func(i, j int) bool { return s.Points[i].T.Before(s.Points[j].T) })
		all = append(all, *s)
	}
	return func(_ context.Context, r *Rule, from, to time.Time, _ time.Duration) ([]RangeSeries, error) {
		var out []RangeSeries
		for _, s := range all {
			if name, ok := s.Labels[RuleLabel]; ok && name != r.Name {
				continue
			}
			labels := make(map[string]string, len(s.Labels))
			for k, v := range s.Labels {
				if k != RuleLabel {
					labels[k] = v
				}
			}
			lo := sort.Search(len(s.Points), func(i int) bool { return !s.Points[i].T.Before(from.Add(-backtestLookback)) })
			hi := sort.Search(len(s.Points), func(i int) bool { return s.Points[i].T.After(to) })
			if lo < hi {
				out = append(out, RangeSeries{Labels: labels, Points: s.Points[lo:hi]})
			}
		}
		return out, nil
	}, nil
}

// parseCSVTime reads a timestamp as `detect train` and `detect eval` do (eval.ParseTime): RFC
// 3339, "2006-01-02 15:04:05" (UTC), or Unix seconds, so the same CSV serves all three.
func parseCSVTime(s string) (time.Time, error) {
	t, err := eval.ParseTime(s)
	if err != nil {
		return time.Time{}, errors.New("want RFC 3339, 2006-01-02 15:04:05 or Unix seconds")
	}
	return t, nil
}

func labelString(labels map[string]string) string {
	var b strings.Builder
	for _, k := range sortedKeys(labels) {
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(strconv.Quote(labels[k]))
		b.WriteByte(',')
	}
	return b.String()
}
