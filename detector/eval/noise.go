package eval

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/smartcloudops/smartcloudops/detector"
)

// The false-alarm figure replays series with nothing to find — pure noise of a few kinds and a
// pure daily pattern — from their first point, warm-up included, as a live check would, and counts
// every maximal run of consecutive points at or above the threshold as one false incident.

// noiseKinds are the families of the false-alarm figure, in report order.
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

// NoiseResult is the false incidents on one family of pure noise or pure pattern.
type NoiseResult struct {
	Kind      string `json:"kind"`
	Series    int    `json:"series"`
	Points    int    `json:"points"`
	Incidents int    `json:"incidents"`
	// Per10k is Incidents per 10,000 points.
	Per10k float64 `json:"per_10k_points"`
	// WarmupSeries counts the series with an incident in their first WarmupPoints points.
	WarmupSeries int `json:"series_with_incident_in_warmup"`
	WarmupPoints int `json:"warmup_points"`
}

// NoiseReport is the false-alarm figure at one threshold.
type NoiseReport struct {
	Threshold float64       `json:"threshold"`
	Kinds     []NoiseResult `json:"kinds"`
}

// FalseAlarms replays series copies of each family, points long, each from its own seed derived
// from seed, through fresh models from f, and counts runs of points scored at or above threshold.
func FalseAlarms(f detector.Factory, threshold float64, seed uint64, series, points int) (*NoiseReport, error) {
	if f == nil || series < 1 || points < 1 {
		return nil, fmt.Errorf("false alarms: need a factory, series %d ≥ 1 and points %d ≥ 1", series, points)
	}
	rep := &NoiseReport{Threshold: threshold}
	const warmup = 500
	start := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	for k, kind := range noiseKinds {
		res := NoiseResult{Kind: kind.name, Series: series, Points: series * points, WarmupPoints: min(warmup, points)}
		for s := range series {
			r := rand.New(rand.NewPCG(seed, uint64(k)<<32|uint64(s))) // #nosec G404 -- seeded, reproducible
			m := f()
			in, early := false, false
			for i := range points {
				v := kind.gen(r, i)
				det := m.Observe(detector.Point{T: start.Add(time.Duration(i) * 5 * time.Minute), V: v}).Score >= threshold
				if det && !in {
					res.Incidents++
					early = early || i < warmup
				}
				in = det
			}
			if early {
				res.WarmupSeries++
			}
		}
		res.Per10k = float64(res.Incidents) * 1e4 / float64(res.Points)
		rep.Kinds = append(rep.Kinds, res)
	}
	return rep, nil
}

// WriteText writes the false-alarm figure as plain text.
func (r *NoiseReport) WriteText(b *strings.Builder) {
	fmt.Fprintf(b, "false incidents at threshold %.4g on series with nothing to find, warm-up included\n", r.Threshold)
	fmt.Fprintf(b, "%-16s %7s %10s %10s %12s %s\n", "family", "series", "points", "incidents", "per 10,000", "series with one in the warm-up")
	for _, k := range r.Kinds {
		fmt.Fprintf(b, "%-16s %7d %10d %10d %12.2f %d (first %d points)\n", k.Kind, k.Series, k.Points, k.Incidents, k.Per10k, k.WarmupSeries, k.WarmupPoints)
	}
}

// WriteMarkdown writes the false-alarm figure as a Markdown section.
func (r *NoiseReport) WriteMarkdown(b *strings.Builder) {
	fmt.Fprintf(b, "## False incidents on series with nothing to find (threshold %.4g)\n\n", r.Threshold)
	b.WriteString("Each series is replayed from its first point, warm-up included; every run of consecutive points " +
		"at or above the threshold is one false incident.\n\n")
	b.WriteString("| family | series | points | false incidents | per 10,000 points | series with one in the warm-up |\n|---|---|---|---|---|---|\n")
	for _, k := range r.Kinds {
		fmt.Fprintf(b, "| %s | %d | %d | %d | %.2f | %d (first %d points) |\n", k.Kind, k.Series, k.Points, k.Incidents, k.Per10k, k.WarmupSeries, k.WarmupPoints)
	}
}
