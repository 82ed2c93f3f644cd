package eval

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/smartcloudops/smartcloudops/detector"
)

// The false-incident figure replays series with nothing to find — pure noise of a few kinds and a
// pure daily pattern — from their first point, warm-up included, as a live check would, and counts
// the incidents a live check would open: the episodes of detector.Lifecycle at the threshold, with
// no minimum change and detector.DefaultResolveAfter normal points to end one. Runs of
// consecutive points at or above the threshold are counted beside them; runs closer than
// ResolveAfter normal points, or inside the band frozen when an episode opened, are one incident.

// noiseKinds are the families of the false-incident figure, in report order.
var noiseKinds = []struct {
	name string
	gen  func(r *rand.Rand, i int) float64
}{
	{"gaussian", func(r *rand.Rand, _ int) float64 { return 50 + 2*r.NormFloat64() }},
	{"heavy-tailed", func(r *rand.Rand, _ int) float64 {
		// Student's t with 3 degrees of freedom, as latency jitter.
		c := 0.0
		for range 3 {
			z := r.NormFloat64()
			c += z * z
		}
		return 100 + 3*r.NormFloat64()/math.Sqrt(c/3)
	}},
	{"poisson counts", func(r *rand.Rand, _ int) float64 { return float64(poisson(r, 2)) }},
	{"daily pattern", func(r *rand.Rand, i int) float64 {
		return 50 + 20*math.Sin(2*math.Pi*float64(i)/synthDay) + 2*r.NormFloat64()
	}},
}

// NoiseSize is one shape of the false-incident figure: how many series of each family, and how
// many points each.
type NoiseSize struct {
	Series int `json:"series"`
	Points int `json:"points_per_series"`
}

// DefaultNoiseSizes are the shapes `detect eval --noise` replays: many short series, where the
// warm-up weighs most, and fewer long ones, closer to a series that runs for months.
func DefaultNoiseSizes() []NoiseSize {
	return []NoiseSize{{Series: 1000, Points: 3000}, {Series: 200, Points: 20000}}
}

// noiseWarmup is the length of the start of a series whose incidents are also counted apart.
const noiseWarmup = 500

// NoiseResult is the false incidents on one family of pure noise or pure pattern.
type NoiseResult struct {
	Kind   string `json:"kind"`
	Series int    `json:"series"`
	// Points is the total over the family's series.
	Points int `json:"points"`
	// Incidents counts the episodes opened, as the live incident stage opens them; Per10k is
	// Incidents per 10,000 points.
	Incidents int     `json:"incidents"`
	Per10k    float64 `json:"per_10k_points"`
	// Runs counts maximal runs of consecutive points at or above the threshold; RunsPer10k is
	// Runs per 10,000 points.
	Runs       int     `json:"runs"`
	RunsPer10k float64 `json:"runs_per_10k_points"`
	// WarmupSeries counts the series with an incident opened in their first WarmupPoints points.
	WarmupSeries int `json:"series_with_incident_in_warmup"`
	WarmupPoints int `json:"warmup_points"`
}

// NoiseSet is every family replayed at one size.
type NoiseSet struct {
	NoiseSize
	Kinds []NoiseResult `json:"kinds"`
}

// NoiseReport is the false-incident figure at one threshold.
type NoiseReport struct {
	Threshold    float64    `json:"threshold"`
	ResolveAfter int        `json:"resolve_after"`
	Sets         []NoiseSet `json:"sets"`
}

// FalseAlarms replays, for each size, that many series of each family, each from its own seed
// derived from seed, through fresh models from f, and counts the episodes a live check would open
// at threshold (detector.Lifecycle with no minimum change and DefaultResolveAfter) and the runs
// of points at or above it.
func FalseAlarms(f detector.Factory, threshold float64, seed uint64, sizes []NoiseSize) (*NoiseReport, error) {
	if f == nil || len(sizes) == 0 {
		return nil, fmt.Errorf("false alarms: need a factory and at least one size")
	}
	for _, sz := range sizes {
		if sz.Series < 1 || sz.Points < 1 {
			return nil, fmt.Errorf("false alarms: series %d and points %d must be at least 1", sz.Series, sz.Points)
		}
	}
	life := detector.Lifecycle{Threshold: threshold, ResolveAfter: detector.DefaultResolveAfter}
	rep := &NoiseReport{Threshold: threshold, ResolveAfter: life.ResolveAfter}
	for z, sz := range sizes {
		set := NoiseSet{NoiseSize: sz}
		for k, kind := range noiseKinds {
			res := NoiseResult{Kind: kind.name, Series: sz.Series, Points: sz.Series * sz.Points, WarmupPoints: min(noiseWarmup, sz.Points)}
			for s := range sz.Series {
				// The first size keeps the streams of the figure's earlier, single-size form.
				r := rand.New(rand.NewPCG(seed, uint64(z)<<48|uint64(k)<<32|uint64(s))) // #nosec G404 -- seeded, reproducible
				c := replayNoise(f(), life, sz.Points, func(i int) float64 { return kind.gen(r, i) })
				res.Incidents += c.episodes
				res.Runs += c.runs
				if c.earlyEpisode {
					res.WarmupSeries++
				}
			}
			res.Per10k = float64(res.Incidents) * 1e4 / float64(res.Points)
			res.RunsPer10k = float64(res.Runs) * 1e4 / float64(res.Points)
			set.Kinds = append(set.Kinds, res)
		}
		rep.Sets = append(rep.Sets, set)
	}
	return rep, nil
}

// noiseCount is what one replayed series produced.
type noiseCount struct {
	episodes, runs int
	earlyEpisode   bool // an episode opened in the first noiseWarmup points
}

// noiseStart is the time of every generated series' first point; points are five minutes apart.
var noiseStart = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)

// replayNoise feeds points values from gen through m and counts its episodes under life and its
// runs of points at or above life.Threshold.
func replayNoise(m detector.Model, life detector.Lifecycle, points int, gen func(i int) float64) noiseCount {
	var c noiseCount
	var ep detector.Episode
	in := false
	for i := range points {
		pt := detector.Point{T: noiseStart.Add(time.Duration(i) * 5 * time.Minute), V: gen(i)}
		s := m.Observe(pt)
		hit := s.Score >= life.Threshold
		if hit && !in {
			c.runs++
		}
		in = hit
		sc := detector.Scored{Point: pt, Score: s.Score, Expected: s.Expected, Lower: s.Lower, Upper: s.Upper}
		if life.Step(&ep, sc, s.Models) == detector.StepOpened {
			c.episodes++
			c.earlyEpisode = c.earlyEpisode || i < noiseWarmup
		}
	}
	return c
}

// WriteText writes the false-incident figure as plain text.
func (r *NoiseReport) WriteText(b *strings.Builder) {
	fmt.Fprintf(b, "false incidents at threshold %.4g on series with nothing to find, warm-up included\n", r.Threshold)
	fmt.Fprintf(b, "(incidents: episodes as the incident stage opens them, ended by %d normal points; runs: runs of points at or above the threshold)\n", r.ResolveAfter)
	for _, set := range r.Sets {
		fmt.Fprintf(b, "\n%d series of %d points\n", set.Series, set.Points)
		fmt.Fprintf(b, "%-16s %10s %10s %12s %7s %12s %s\n", "family", "points", "incidents", "per 10,000", "runs", "per 10,000", "series with one in the warm-up")
		for _, k := range set.Kinds {
			fmt.Fprintf(b, "%-16s %10d %10d %12.2f %7d %12.2f %d (first %d points)\n", k.Kind, k.Points, k.Incidents, k.Per10k,
				k.Runs, k.RunsPer10k, k.WarmupSeries, k.WarmupPoints)
		}
	}
}

// WriteMarkdown writes the false-incident figure as a Markdown section.
func (r *NoiseReport) WriteMarkdown(b *strings.Builder) {
	fmt.Fprintf(b, "## False incidents on series with nothing to find (threshold %.4g)\n\n", r.Threshold)
	fmt.Fprintf(b, "Each series is replayed from its first point, warm-up included. A false incident is an episode "+
		"as the incident stage opens it (detector.Lifecycle: a point at or above the threshold opens one, and it ends "+
		"after %d normal points judged against the band frozen when it opened), so alarms close together are one "+
		"incident, as they are live. Runs of consecutive points at or above the threshold are counted beside them.\n", r.ResolveAfter)
	for _, set := range r.Sets {
		fmt.Fprintf(b, "\n### %d series of %d points\n\n", set.Series, set.Points)
		b.WriteString("| family | points | false incidents | per 10,000 points | runs | runs per 10,000 points | series with an incident in the warm-up |\n|---|---|---|---|---|---|---|\n")
		for _, k := range set.Kinds {
			fmt.Fprintf(b, "| %s | %d | %d | **%.2f** | %d | %.2f | %d (first %d points) |\n", k.Kind, k.Points, k.Incidents, k.Per10k,
				k.Runs, k.RunsPer10k, k.WarmupSeries, k.WarmupPoints)
		}
	}
}
