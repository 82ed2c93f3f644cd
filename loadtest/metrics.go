package loadtest

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Sample is one series of a scraped metric family.
type Sample struct {
	Labels map[string]string
	Value  float64 // counters, gauges and untyped
	Hist   Hist    // histograms
}

// Metrics is one scrape of the bot's /metrics.
type Metrics struct {
	At   time.Time
	Took time.Duration // how long the scrape took: the bot computes some gauges when scraped
	fams map[string][]Sample
}

// ParseMetrics reads the Prometheus text format.
func ParseMetrics(r io.Reader) (Metrics, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(r)
	if err != nil {
		return Metrics{}, fmt.Errorf("parse metrics: %w", err)
	}
	m := Metrics{fams: map[string][]Sample{}}
	for name, mf := range mfs {
		for _, x := range mf.GetMetric() {
			s := Sample{Labels: map[string]string{}}
			for _, lp := range x.GetLabel() {
				s.Labels[lp.GetName()] = lp.GetValue()
			}
			switch {
			case x.Counter != nil:
				s.Value = x.GetCounter().GetValue()
			case x.Gauge != nil:
				s.Value = x.GetGauge().GetValue()
			case x.Untyped != nil:
				s.Value = x.GetUntyped().GetValue()
			case x.Histogram != nil:
				h := x.GetHistogram()
				s.Hist.Count, s.Hist.Sum = float64(h.GetSampleCount()), h.GetSampleSum()
				for _, b := range h.GetBucket() {
					s.Hist.Buckets = append(s.Hist.Buckets, Bucket{Le: b.GetUpperBound(), Count: float64(b.GetCumulativeCount())})
				}
			}
			m.fams[name] = append(m.fams[name], s)
		}
	}
	return m, nil
}

// Scrape fetches and parses base's /metrics.
func Scrape(ctx context.Context, client *http.Client, base string) (Metrics, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return Metrics{}, err
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return Metrics{}, fmt.Errorf("scrape %s/metrics: %w", base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Metrics{}, fmt.Errorf("scrape %s/metrics: %s", base, resp.Status)
	}
	m, err := ParseMetrics(resp.Body)
	m.At, m.Took = start, time.Since(start)
	return m, err
}

func matches(labels, want map[string]string) bool {
	for k, v := range want {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// Sum adds the values of every series of name whose labels include want (nil: all).
func (m Metrics) Sum(name string, want map[string]string) float64 {
	var sum float64
	for _, s := range m.fams[name] {
		if matches(s.Labels, want) {
			sum += s.Value
		}
	}
	return sum
}

// Histogram adds up the histograms of name whose labels include want.
func (m Metrics) Histogram(name string, want map[string]string) Hist {
	var h Hist
	for _, s := range m.fams[name] {
		if matches(s.Labels, want) {
			h = h.add(s.Hist, 1)
		}
	}
	return h
}

// Bucket is one cumulative histogram bucket.
type Bucket struct {
	Le    float64
	Count float64
}

// Hist is a Prometheus histogram: cumulative buckets, count and sum.
type Hist struct {
	Buckets []Bucket
	Count   float64
	Sum     float64
}

// add returns h + sign·o, bucket by bucket (the same bounds, as one metric has).
func (h Hist) add(o Hist, sign float64) Hist {
	out := Hist{Count: h.Count + sign*o.Count, Sum: h.Sum + sign*o.Sum}
	byLe := map[float64]float64{}
	for _, b := range h.Buckets {
		byLe[b.Le] += b.Count
	}
	for _, b := range o.Buckets {
		byLe[b.Le] += sign * b.Count
	}
	for le, c := range byLe {
		out.Buckets = append(out.Buckets, Bucket{Le: le, Count: c})
	}
	sort.Slice(out.Buckets, func(i, j int) bool { return out.Buckets[i].Le < out.Buckets[j].Le })
	return out
}

// Sub is what was observed between an earlier scrape o and h.
func (h Hist) Sub(o Hist) Hist { return h.add(o, -1) }

// Quantile estimates the q-quantile as Prometheus' histogram_quantile does: linear within the
// bucket the rank falls in, and the highest finite bound when it falls in +Inf. NaN when empty.
func (h Hist) Quantile(q float64) float64 {
	if h.Count <= 0 || len(h.Buckets) == 0 {
		return math.NaN()
	}
	rank := q * h.Count
	lower, below := 0.0, 0.0
	for i, b := range h.Buckets {
		if b.Count >= rank {
			if math.IsInf(b.Le, 1) {
				if i == 0 {
					return math.NaN()
				}
				return h.Buckets[i-1].Le
			}
			if b.Count == below {
				return b.Le
			}
			return lower + (b.Le-lower)*(rank-below)/(b.Count-below)
		}
		lower, below = b.Le, b.Count
	}
	return h.Buckets[len(h.Buckets)-1].Le
}

// Top is the largest finite bucket bound and how many observations lie above it.
func (h Hist) Top() (bound float64, above int) {
	for i := len(h.Buckets) - 1; i >= 0; i-- {
		if b := h.Buckets[i]; !math.IsInf(b.Le, 1) {
			return b.Le, int(h.Count - b.Count)
		}
	}
	return math.Inf(1), 0
}

// Mean is the mean observation.
func (h Hist) Mean() float64 {
	if h.Count <= 0 {
		return math.NaN()
	}
	return h.Sum / h.Count
}
