package eval

import (
	"encoding/csv"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/smartcloudops/smartcloudops/detector"
)

// RunOptions configures Run. Factory is required.
type RunOptions struct {
	// Factory makes one fresh model per series, as a live check does.
	Factory detector.Factory
	// Threshold is the fixed threshold the product ships; results are reported at it and at the
	// swept best threshold.
	Threshold float64
	// OutDir, when set, receives per-row results as <OutDir>/<category>/<Prefix>_<file>.csv with
	// columns timestamp,value,anomaly_score,label. Scores are written exactly (the shortest
	// decimal that reads back as the same number), so an independent scorer reading the files
	// reproduces the report at any threshold.
	OutDir string
	// Prefix names the detector in result file names; defaults to "smartcloudops".
	Prefix string
	// Logger receives warnings about series that need them; defaults to discarding.
	Logger *slog.Logger
}

// SeriesResult is one series replayed.
type SeriesResult struct {
	Key      string
	Category string
	Scores   []float64
	// Invalid counts NaN or infinite values; Unordered counts rows whose timestamp is not after
	// the previous one.
	Invalid, Unordered int
}

// Run replays every series of c through a fresh model from o.Factory, point by point through
// Model.Observe, writes per-row results when o.OutDir is set and returns the scored report.
func Run(c *Corpus, o RunOptions) (*Report, error) {
	if o.Factory == nil {
		return nil, fmt.Errorf("eval run: Factory is required")
	}
	if o.Prefix == "" {
		o.Prefix = "smartcloudops"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	var set []Scored
	var results []SeriesResult
	var elapsed time.Duration
	points := 0
	for _, s := range c.Series {
		times := make([]time.Time, len(s.Points))
		for i, p := range s.Points {
			times[i] = p.T
		}
		l, err := NewLabels(s.Key, s.Category, times, s.Windows)
		if err != nil {
			return nil, err
		}
		res := SeriesResult{Key: s.Key, Category: s.Category, Scores: make([]float64, len(s.Points))}
		m := o.Factory()
		start := time.Now()
		for i, p := range s.Points {
			res.Scores[i] = m.Observe(p).Score
		}
		elapsed += time.Since(start)
		points += len(s.Points)
		for i, p := range s.Points {
			if !detector.Valid(p.V) {
				res.Invalid++
			}
			if i > 0 && !p.T.After(s.Points[i-1].T) {
				res.Unordered++
			}
		}
		if res.Invalid > 0 || res.Unordered > 0 {
			o.Logger.Warn("series has rows the model skips or sees out of order",
				"series", s.Key, "invalid_values", res.Invalid, "unordered_timestamps", res.Unordered)
		}
		sc, err := l.Attach(res.Scores)
		if err != nil {
			return nil, err
		}
		set = append(set, sc)
		results = append(results, res)
		if o.OutDir != "" {
			if err := writeResult(o.OutDir, o.Prefix, s, l, res.Scores); err != nil {
				return nil, err
			}
		}
	}
	r := buildReport(set, c.Profiles, o.Threshold)
	r.Series = results
	r.Points = points
	r.Elapsed = elapsed
	return r, nil
}

func writeResult(dir, prefix string, s Series, l *Labels, scores []float64) error {
	catDir := filepath.Join(dir, s.Category)
	if err := os.MkdirAll(catDir, 0o750); err != nil {
		return fmt.Errorf("write results for %s: %w", s.Key, err)
	}
	path := filepath.Join(catDir, prefix+"_"+filepath.Base(s.Key))
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write results for %s: %w", s.Key, err)
	}
	w := csv.NewWriter(f)
	_ = w.Write([]string{"timestamp", "value", "anomaly_score", "label"})
	for i, p := range s.Points {
		label := "0"
		if l.InWindow(i) {
			label = "1"
		}
		_ = w.Write([]string{p.T.Format(time.DateTime), strconv.FormatFloat(p.V, 'g', -1, 64),
			strconv.FormatFloat(scores[i], 'f', -1, 64), label})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// ProfileSummary is one profile's score at the fixed and at the swept threshold.
type ProfileSummary struct {
	Fixed ProfileResult `json:"fixed"`
	Swept ProfileResult `json:"swept"`
}

// CategoryResult is the standard profile and event F1 at the fixed threshold over one category.
type CategoryResult struct {
	Category string        `json:"category"`
	Series   int           `json:"series"`
	Windows  int           `json:"windows"`
	Standard ProfileResult `json:"standard"`
	LowFP    ProfileResult `json:"reward_low_FP_rate"`
	LowFN    ProfileResult `json:"reward_low_FN_rate"`
	Events   Events        `json:"events"`
}

// Report summarises a replay.
type Report struct {
	Threshold  float64          `json:"threshold"`
	Profiles   []ProfileSummary `json:"profiles"`
	Events     Events           `json:"events"`
	Categories []CategoryResult `json:"categories"`
	Points     int              `json:"points"`
	// Elapsed is time spent in Model.Observe only.
	Elapsed time.Duration  `json:"elapsed_ns"`
	Series  []SeriesResult `json:"-"`
	// Synthetic is set by RunSynthetic: the results by injected anomaly kind and by family.
	Synthetic *SyntheticSummary `json:"synthetic,omitempty"`
}

// PointsPerSecond is the scoring speed, training included, on one goroutine.
func (r *Report) PointsPerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Points) / r.Elapsed.Seconds()
}

func buildReport(set []Scored, profiles []Profile, thr float64) *Report {
	r := &Report{Threshold: thr}
	for _, p := range profiles {
		r.Profiles = append(r.Profiles, ProfileSummary{Fixed: Score(set, p, thr), Swept: Sweep(set, p)})
	}
	r.Events = EventF1(set, thr)
	byCat := map[string][]Scored{}
	for _, s := range set {
		byCat[s.Labels.Category] = append(byCat[s.Labels.Category], s)
	}
	cats := make([]string, 0, len(byCat))
	for c := range byCat {
		cats = append(cats, c)
	}
	slices.Sort(cats)
	prof := func(name string) Profile {
		for _, p := range profiles {
			if p.Name == name {
				return p
			}
		}
		for _, p := range StandardProfiles() {
			if p.Name == name {
				return p
			}
		}
		return Profile{}
	}
	for _, c := range cats {
		sub := byCat[c]
		cr := CategoryResult{Category: c, Series: len(sub), Events: EventF1(sub, thr),
			Standard: Score(sub, prof("standard"), thr), LowFP: Score(sub, prof("reward_low_FP_rate"), thr),
			LowFN: Score(sub, prof("reward_low_FN_rate"), thr)}
		for _, s := range sub {
			cr.Windows += s.Labels.Windows()
		}
		r.Categories = append(r.Categories, cr)
	}
	return r
}

// Category returns the result for category name, if present.
func (r *Report) Category(name string) (CategoryResult, bool) {
	for _, c := range r.Categories {
		if strings.EqualFold(c.Category, name) {
			return c, true
		}
	}
	return CategoryResult{}, false
}

func pointTimes(pts []detector.Point) []time.Time {
	out := make([]time.Time, len(pts))
	for i, p := range pts {
		out[i] = p.T
	}
	return out
}
