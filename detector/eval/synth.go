package eval

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/smartcloudops/smartcloudops/detector"
)

// The synthetic corpus is a check on generalisation that owes nothing to NAB's labels: families of
// normal behaviour seen in infrastructure metrics, each replayed clean and with one injected
// anomaly of each kind at a known row. A model tuned to the development set that has learnt its
// quirks rather than what "abnormal" means shows it here as false alarms on clean series or as
// missed injections.

const (
	synthRows   = 4032              // 14 days at 5-minute steps, as most NAB series
	synthDay    = 288               // rows per day
	synthOnset  = synthRows * 3 / 4 // row where the anomaly starts
	synthWindow = 200               // rows after the onset that count as detecting it
)

var synthStart = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC) // a Monday

// Injection is one series of the synthetic corpus.
type Injection struct {
	Key    string
	Family string
	// Kind is the injected anomaly, or "clean".
	Kind string
	// Onset is the row where the anomaly starts and End the last row of its window; both are -1
	// for clean series.
	Onset, End int
}

// synthFamily generates the clean series of one family; noise is the standard deviation of its
// point-to-point noise, the scale of the injected variance change.
type synthFamily struct {
	name     string
	periodic bool
	gen      func(r *rand.Rand) (vals []float64, noise float64)
}

func synthFamilies() []synthFamily {
	daily := func(i int) float64 { return math.Sin(2 * math.Pi * float64(i) / synthDay) }
	return []synthFamily{
		{name: "flat", gen: func(r *rand.Rand) ([]float64, float64) {
			return fill(func(int) float64 { return 50 + 2*r.NormFloat64() }), 2
		}},
		{name: "daily", periodic: true, gen: func(r *rand.Rand) ([]float64, float64) {
			return fill(func(i int) float64 { return 50 + 20*daily(i) + 2*r.NormFloat64() }), 2
		}},
		{name: "weekly", periodic: true, gen: func(r *rand.Rand) ([]float64, float64) {
			// Business hours on weekdays, a lower day at weekends.
			return fill(func(i int) float64 {
				day := (i / synthDay) % 7
				load := 40.0
				if day >= 5 {
					load = 15
				}
				hour := float64(i%synthDay) / synthDay * 24
				shape := math.Max(0, math.Sin(math.Pi*(hour-7)/12))
				return 20 + load*shape + 2*r.NormFloat64()
			}), 2
		}},
		{name: "wander", periodic: true, gen: func(r *rand.Rand) ([]float64, float64) {
			// A temperature: slow random wander around a level, a small daily swing.
			y := 0.0
			return fill(func(i int) float64 {
				y = 0.99*y + 0.7*r.NormFloat64()
				return 60 + y + 3*daily(i)
			}), 0.7
		}},
		{name: "counts", periodic: true, gen: func(r *rand.Rand) ([]float64, float64) {
			// Small event counts per interval with a daily rhythm.
			return fill(func(i int) float64 { return float64(poisson(r, 4+3*daily(i))) }), 2
		}},
		{name: "heavytail", gen: func(r *rand.Rand) ([]float64, float64) {
			// A latency with heavy-tailed jitter (Student's t, 3 degrees of freedom).
			return fill(func(int) float64 {
				c := 0.0
				for range 3 {
					z := r.NormFloat64()
					c += z * z
				}
				return 100 + 3*r.NormFloat64()/math.Sqrt(c/3)
			}), 3
		}},
		{name: "batch", periodic: true, gen: func(r *rand.Rand) ([]float64, float64) {
			// A job every six hours lifts the metric for half an hour.
			return fill(func(i int) float64 {
				if i%72 < 6 {
					return 70 + 3*r.NormFloat64()
				}
				return 10 + r.NormFloat64()
			}), 1
		}},
		{name: "sawtooth", gen: func(r *rand.Rand) ([]float64, float64) {
			// Disk usage that fills over two days and is cleaned up.
			return fill(func(i int) float64 {
				return 40 + 40*float64(i%(2*synthDay))/(2*synthDay) + 0.5*r.NormFloat64()
			}), 0.5
		}},
		{name: "bursty", gen: func(r *rand.Rand) ([]float64, float64) {
			// Mostly idle with short bursts at random times, about two a day.
			left := 0
			return fill(func(int) float64 {
				if left == 0 && r.Float64() < 2.0/synthDay {
					left = 3 + r.IntN(8)
				}
				if left > 0 {
					left--
					return 60 + 5*r.NormFloat64()
				}
				return math.Max(0, 5+r.NormFloat64())
			}), 1
		}},
	}
}

func fill(f func(i int) float64) []float64 {
	v := make([]float64, synthRows)
	for i := range v {
		v[i] = f(i)
	}
	return v
}

// poisson draws from a Poisson distribution by Knuth's method, fine for the small means used here.
func poisson(r *rand.Rand, mean float64) int {
	l, k, p := math.Exp(-mean), 0, 1.0
	for {
		p *= r.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

// SyntheticKinds lists the injected anomaly kinds in report order.
func SyntheticKinds() []string {
	return []string{"spike", "drop", "shift", "ramp", "variance", "flatline", "cycle", "pattern", "rampback", "second", "burst"}
}

// inject applies kind at synthOnset to a copy of clean and returns it with the last row of its
// window. Some kinds also change the series before the onset (an earlier, larger incident); what
// is detected there is neither credited nor counted against the model. Anomalies that persist (shift, ramp, variance) last to the end of the series and their
// window with them, so that alarms they keep causing are not counted as false alarms; the others
// end and the series runs on, so alarms on the return to normal count against the model. It
// reports false for a kind that does not apply to the family.
func inject(kind string, f synthFamily, clean []float64, noise float64, r *rand.Rand) ([]float64, int, bool) {
	v := slices.Clone(clean)
	before := slices.Clone(clean[:synthOnset])
	slices.Sort(before)
	hi := before[len(before)-1]
	spread := before[len(before)*95/100] - before[len(before)*5/100]
	p10, p90 := before[len(before)/10], before[len(before)*9/10]
	o := synthOnset
	end := o + synthWindow
	switch kind {
	case "spike":
		v[o] = hi + 0.5*spread
	case "drop":
		// An outage reported as zero for two hours.
		for i := o; i < o+24; i++ {
			v[i] = 0
		}
	case "shift":
		end = len(v) - 1
		for i := o; i < len(v); i++ {
			v[i] += 0.5 * spread
		}
	case "ramp":
		end = len(v) - 1
		for i := o; i < len(v); i++ {
			v[i] += 0.8 * spread * float64(i-o) / synthDay
		}
	case "variance":
		end = len(v) - 1
		for i := o; i < len(v); i++ {
			v[i] += 4 * noise * r.NormFloat64()
		}
	case "flatline":
		end = o + synthDay - 1
		for i := o; i < o+synthDay; i++ {
			v[i] = v[o]
		}
	case "cycle":
		// One day without the family's daily pattern: the mean level with the usual noise.
		if !f.periodic {
			return nil, 0, false
		}
		end = o + synthDay - 1
		mean := 0.0
		for _, x := range clean[:o] {
			mean += x
		}
		mean /= float64(o)
		for i := o; i < o+synthDay; i++ {
			v[i] = mean + noise*r.NormFloat64()
		}
	case "pattern":
		// A day of a new pattern inside the usual range: the values alternate between the 10th
		// and the 90th percentile of those before, every half hour, with the usual noise.
		end = o + synthDay - 1
		for i := o; i <= end; i++ {
			base := p10
			if (i-o)/6%2 == 1 {
				base = p90
			}
			v[i] = base + noise*r.NormFloat64()
		}
	case "rampback":
		// A first incident lifts the series for four hours; later a ramp climbs back into the
		// range it reached, over half a day, and stays there.
		for i := o - 1200; i < o-1152; i++ {
			v[i] += 0.8 * spread
		}
		end = len(v) - 1
		for i := o; i < len(v); i++ {
			v[i] += 0.8 * spread * min(1, float64(i-o)/(synthDay/2))
		}
	case "second":
		// A large incident, then a smaller one: two hours each, the second a third the size.
		for i := o - 800; i < o-776; i++ {
			v[i] += 2 * spread
		}
		for i := o; i < o+24; i++ {
			v[i] += 0.7 * spread
		}
	case "burst":
		// One outlier far beyond anything, then a burst of an hour well above the usual values
		// but far below the outlier.
		v[o-600] = hi + 4*spread
		for i := o; i < o+12; i++ {
			v[i] = hi + 0.5*spread*(1+0.2*r.NormFloat64())
		}
	default:
		panic("eval: unknown synthetic kind " + kind)
	}
	return v, end, true
}

// SyntheticCorpus generates copies of every family clean and with each applicable anomaly kind,
// each copy from its own seed, labelled with one window from the onset to synthWindow rows after
// it, or to the end of the series for an anomaly that persists. The same seed always yields the same corpus.
func SyntheticCorpus(seed uint64, copies int) (*Corpus, []Injection) {
	c := &Corpus{Profiles: StandardProfiles()}
	var inj []Injection
	for _, f := range synthFamilies() {
		for k := range copies {
			r := rand.New(rand.NewPCG(seed, uint64(k)<<32|uint64(len(inj)))) // #nosec G404 -- a seeded, reproducible corpus
			clean, noise := f.gen(r)
			add := func(kind string, vals []float64, onset, end int) {
				key := fmt.Sprintf("%s/%s-%d.csv", f.name, kind, k+1)
				pts := make([]detector.Point, len(vals))
				for i, x := range vals {
					pts[i] = detector.Point{T: synthStart.Add(time.Duration(i) * 5 * time.Minute), V: x}
				}
				s := Series{Key: key, Category: f.name, Points: pts, Windows: []Window{}}
				if onset >= 0 {
					s.Windows = []Window{{Start: pts[onset].T, End: pts[end].T}}
				}
				c.Series = append(c.Series, s)
				inj = append(inj, Injection{Key: key, Family: f.name, Kind: kind, Onset: onset, End: end})
			}
			add("clean", clean, -1, -1)
			for _, kind := range SyntheticKinds() {
				if v, end, ok := inject(kind, f, clean, noise, r); ok {
					add(kind, v, synthOnset, end)
				}
			}
		}
	}
	return c, inj
}

// KindResult is how the model did on one injected kind over every family and copy.
type KindResult struct {
	Kind     string `json:"kind"`
	Series   int    `json:"series"`
	Detected int    `json:"detected"`
	// MedianDelay is the median number of rows from the onset to the first detection in the
	// window, over the detected series; -1 when none was detected.
	MedianDelay int `json:"median_delay_rows"`
	// LaterRuns counts runs of detections after the window in these series, such as alarms on
	// the return to normal. (Before the onset the series equal their clean copy, whose false
	// alarms FamilyResult counts.)
	LaterRuns int `json:"later_false_runs"`
}

// FamilyResult is false alarms on a family's clean copies.
type FamilyResult struct {
	Family    string `json:"family"`
	Series    int    `json:"series"`
	Rows      int    `json:"rows"`
	FalseRuns int    `json:"false_runs"`
	Detected  int    `json:"detected"`
	Injected  int    `json:"injected"`
}

// SyntheticSummary is the synthetic corpus' results by anomaly kind and by family.
type SyntheticSummary struct {
	Kinds    []KindResult   `json:"kinds"`
	Families []FamilyResult `json:"families"`
}

// RunSynthetic replays SyntheticCorpus(seed, copies) as Run does and attaches the summary by
// anomaly kind and family to the report.
func RunSynthetic(seed uint64, copies int, o RunOptions) (*Report, error) {
	if copies < 1 {
		return nil, fmt.Errorf("synthetic corpus: copies %d, want at least 1", copies)
	}
	c, inj := SyntheticCorpus(seed, copies)
	r, err := Run(c, o)
	if err != nil {
		return nil, err
	}
	s, err := Summarise(r, inj)
	if err != nil {
		return nil, err
	}
	r.Synthetic = &s
	return r, nil
}

// Summarise groups a synthetic replay by anomaly kind and by family at r's threshold. r must
// come from Run over the corpus that produced inj, in the same order.
func Summarise(r *Report, inj []Injection) (SyntheticSummary, error) {
	if len(r.Series) != len(inj) {
		return SyntheticSummary{}, fmt.Errorf("summarise: %d series replayed, %d injections", len(r.Series), len(inj))
	}
	kinds := map[string]*KindResult{}
	delays := map[string][]int{}
	fams := map[string]*FamilyResult{}
	var famOrder []string
	for i, in := range inj {
		if r.Series[i].Key != in.Key {
			return SyntheticSummary{}, fmt.Errorf("summarise: series %d is %s, want %s", i, r.Series[i].Key, in.Key)
		}
		scores := r.Series[i].Scores
		prob := probationRows(len(scores))
		first, runs, later := -1, 0, 0
		inRun := false
		for j := prob; j < len(scores); j++ {
			det := scores[j] >= r.Threshold
			if in.Onset >= 0 && j >= in.Onset && j <= in.End {
				if det && first < 0 {
					first = j
				}
				inRun = false
				continue
			}
			if det && !inRun {
				runs++
				if in.Onset >= 0 && j > in.End {
					later++
				}
			}
			inRun = det
		}
		fr := fams[in.Family]
		if fr == nil {
			fr = &FamilyResult{Family: in.Family}
			fams[in.Family] = fr
			famOrder = append(famOrder, in.Family)
		}
		if in.Kind == "clean" {
			fr.Series++
			fr.Rows += len(scores) - prob
			fr.FalseRuns += runs
			continue
		}
		fr.Injected++
		kr := kinds[in.Kind]
		if kr == nil {
			kr = &KindResult{Kind: in.Kind}
			kinds[in.Kind] = kr
		}
		kr.Series++
		kr.LaterRuns += later
		if first >= 0 {
			kr.Detected++
			fr.Detected++
			delays[in.Kind] = append(delays[in.Kind], first-in.Onset)
		}
	}
	var s SyntheticSummary
	for _, k := range SyntheticKinds() {
		kr, ok := kinds[k]
		if !ok {
			continue
		}
		kr.MedianDelay = -1
		if d := delays[k]; len(d) > 0 {
			slices.Sort(d)
			kr.MedianDelay = d[len(d)/2]
		}
		s.Kinds = append(s.Kinds, *kr)
	}
	for _, f := range famOrder {
		s.Families = append(s.Families, *fams[f])
	}
	return s, nil
}
