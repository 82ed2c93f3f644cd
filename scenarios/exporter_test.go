//go:build scenarios

package scenarios

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// metric is the gauge the controllable exporter serves, one series per story.
const metric = "scenario_load_percent"

// shape gives the value a series shows at each scrape; rng is the series' own generator, so the
// noise is reproducible and differs between series.
type shape func(rng *rand.Rand) float64

// noisy is a busy but healthy series: centre plus Gaussian noise of the given spread, kept
// inside [0, 100].
func noisy(centre, spread float64) shape {
	return func(rng *rand.Rand) float64 {
		return math.Min(100, math.Max(0, centre+rng.NormFloat64()*spread))
	}
}

// baseline is the normal load every detector story starts from and returns to.
var baseline = noisy(20, 2)

// load is the load that crosses 90 and stays there.
var load = noisy(95, 1)

// saturated is a series pinned at 100 %, as a CPU that is always busy reports: a hair of noise
// and, now and then, a dip of at most 1.2 points lasting a few scrapes.
func saturated() shape {
	dip := 0
	depth := 0.0
	return func(rng *rand.Rand) float64 {
		if dip == 0 && rng.IntN(12) == 0 {
			dip, depth = 1+rng.IntN(3), 0.3+rng.Float64()*0.85
		}
		if dip > 0 {
			dip--
			return 100 - depth
		}
		return 100 - math.Abs(rng.NormFloat64())*0.05
	}
}

// exporter is a Prometheus target in the test process: an HTTP /metrics handler whose series
// the stories set. It notes when each series was first scraped after it changed, which is when
// Prometheus — and so the bot — could first see the change.
type exporter struct {
	addr string
	srv  *http.Server

	mu     sync.Mutex
	series map[string]*series
}

type series struct {
	story   string
	shape   shape
	rng     *rand.Rand
	changed time.Time // when the shape was last set
	seen    time.Time // first scrape after changed; zero until then
	last    float64
}

func startExporter(t testing.TB) *exporter {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("exporter: listen: %v", err)
	}
	e := &exporter{addr: l.Addr().String(), series: map[string]*series{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", e.serve)
	e.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = e.srv.Serve(l) }()
	t.Cleanup(func() { e.srv.Close() })
	return e
}

func (e *exporter) serve(w http.ResponseWriter, _ *http.Request) {
	now := time.Now()
	e.mu.Lock()
	names := make([]string, 0, len(e.series))
	for n := range e.series {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	fmt.Fprintf(&b, "# HELP %s Load of a scenario's series, set by the test.\n# TYPE %s gauge\n", metric, metric)
	for _, n := range names {
		s := e.series[n]
		s.last = s.shape(s.rng)
		if s.seen.IsZero() {
			s.seen = now
		}
		fmt.Fprintf(&b, "%s{story=%q} %.4f\n", metric, s.story, s.last)
	}
	e.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	_, _ = w.Write([]byte(b.String()))
}

// set gives the story's series a new shape from the next scrape on, and returns the time of
// the change.
func (e *exporter) set(story string, sh shape) time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := time.Now()
	s, ok := e.series[story]
	if !ok {
		s = &series{story: story, rng: rand.New(rand.NewPCG(uint64(len(e.series))+1, seedOf(story)))}
		e.series[story] = s
	}
	s.shape, s.changed, s.seen = sh, now, time.Time{}
	return now
}

// remove stops serving the story's series.
func (e *exporter) remove(story string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.series, story)
}

// seen returns when the story's series was first scraped with its current shape (zero when it
// has not been yet).
func (e *exporter) seen(story string) time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	if s, ok := e.series[story]; ok {
		return s.seen
	}
	return time.Time{}
}

// selector is the PromQL selector of the story's series.
func selector(story string) string { return fmt.Sprintf(`%s{story=%q}`, metric, story) }

func seedOf(s string) uint64 {
	var h uint64 = 14695981039346656037
	for _, c := range []byte(s) {
		h = (h ^ uint64(c)) * 1099511628211
	}
	return h
}

// writeHistory writes n points of sh, one a second and ending now, as the CSV that
// `smartcloudops detect train --csv` reads.
func writeHistory(path string, sh shape, n int, seed uint64) error {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var b strings.Builder
	b.WriteString("timestamp,value\n")
	end := time.Now().UTC().Truncate(time.Second)
	for i := n - 1; i >= 0; i-- {
		fmt.Fprintf(&b, "%s,%.4f\n", end.Add(-time.Duration(i)*time.Second).Format(time.RFC3339), sh(rng))
	}
	return os.WriteFile(path, []byte(b.String()), 0o600)
}
