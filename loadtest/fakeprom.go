package loadtest

import (
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Metric is the name of every series the fake Prometheus serves.
const Metric = "loadtest_value"

// maxRangePoints is Prometheus' own limit on the points of one series in a range query.
const maxRangePoints = 11000

// Pattern is the shape every series follows: Base + Amplitude·sin(2π·t/Day) plus Gaussian noise
// of standard deviation Noise, and, while the storm is on, Storm added on top.
type Pattern struct {
	Base, Amplitude, Noise, Storm float64
	Day                           time.Duration
	Seed                          uint64
}

// DefaultPattern is a daily load around 50 swinging by 20, with noise of 2 and a storm that
// lifts every series by 400: two hundred standard deviations outside anything it has shown.
func DefaultPattern() Pattern {
	return Pattern{Base: 50, Amplitude: 20, Noise: 2, Storm: 400, Day: 24 * time.Hour, Seed: 1}
}

// FakeProm serves the two Prometheus HTTP API endpoints the bot calls, /api/v1/query and
// /api/v1/query_range, over N series of one metric. Every series follows Pattern with its own
// noise; a value depends only on the series and the second it is asked for, so an instant query
// and a range query over the same time agree, as they do on a real Prometheus. The query
// `loadtest_value` returns every series; `loadtest_value{series="K"}` returns series K alone
// (for `detect train`, which wants one); any other query is refused with bad_data. A range query
// of more than 11,000 points per series is refused, as Prometheus refuses it.
type FakeProm struct {
	p      Pattern
	n      int
	prefix [][]byte // per series: `{"metric":{...},"value":[` rendered once
	storm  atomic.Bool

	srv *http.Server
	URL string

	mu    sync.Mutex
	stats PromStats
}

// PromStats is what the fake has served, to tell its own share of a tick from the bot's.
type PromStats struct {
	Queries      int           // instant queries answered
	RangeQueries int           // range queries answered
	Bytes        int64         // bytes of answers written
	ServeTime    time.Duration // time spent building and writing answers
	MaxServe     time.Duration // longest single answer
}

// NewFakeProm builds a fake Prometheus with n series; Start serves it.
func NewFakeProm(n int, p Pattern) *FakeProm {
	f := &FakeProm{p: p, n: n, prefix: make([][]byte, n)}
	for i := range n {
		f.prefix[i] = fmt.Appendf(nil, `{"metric":%s,"value":[`, seriesLabels(i))
	}
	return f
}

// seriesLabels is the label set of series i as JSON: the metric, a job, an instance, a zone and
// the series number, about what a node exporter series carries.
func seriesLabels(i int) []byte {
	b, _ := json.Marshal(map[string]string{
		"__name__": Metric,
		"job":      "loadtest",
		"instance": fmt.Sprintf("host-%06d:9100", i),
		"zone":     fmt.Sprintf("zone-%c", 'a'+i%4),
		"series":   strconv.Itoa(i),
	})
	return b
}

// Start serves the fake on a free loopback port.
func (f *FakeProm) Start() error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("fake prometheus: listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/v1/query", f.instant)
	mux.HandleFunc("/api/v1/query_range", f.rangeQuery)
	f.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	f.URL = "http://" + l.Addr().String()
	go func() { _ = f.srv.Serve(l) }()
	return nil
}

// Close stops serving.
func (f *FakeProm) Close() error {
	if f.srv == nil {
		return nil
	}
	return f.srv.Close()
}

// SetStorm turns the storm on or off: while on, every series is far outside its pattern.
func (f *FakeProm) SetStorm(on bool) { f.storm.Store(on) }

// Stats returns what the fake has served so far.
func (f *FakeProm) Stats() PromStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stats
}

// Value is series i's value at t (to the second).
func (f *FakeProm) Value(i int, t time.Time) float64 {
	sec := t.Unix()
	phase := 2 * math.Pi * float64(sec%int64(f.p.Day/time.Second)) / f.p.Day.Seconds()
	v := f.p.Base + f.p.Amplitude*math.Sin(phase) + f.p.Noise*gauss(f.p.Seed, uint64(i), uint64(sec))
	if f.storm.Load() {
		v += f.p.Storm
	}
	return v
}

// gauss is a standard normal variate that depends only on its arguments (Box–Muller on two
// splitmix64 outputs).
func gauss(seed, i, t uint64) float64 {
	a := splitmix(seed ^ splitmix(i) ^ splitmix(t+0x9e37))
	b := splitmix(a)
	u1 := (float64(a>>11) + 0.5) / (1 << 53)
	u2 := float64(b>>11) / (1 << 53)
	return math.Sqrt(-2*math.Log(u1)) * math.Cos(2*math.Pi*u2)
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

var oneSeries = regexp.MustCompile(`^` + Metric + `\{series="(\d+)"\}$`)

// selectSeries reads the query: every series [0, n), or one.
func (f *FakeProm) selectSeries(q string) (lo, hi int, err error) {
	q = strings.TrimSpace(q)
	if q == Metric {
		return 0, f.n, nil
	}
	if m := oneSeries.FindStringSubmatch(q); m != nil {
		k, err := strconv.Atoi(m[1])
		if err != nil || k >= f.n {
			return 0, 0, nil // no such series: an empty result, as Prometheus gives
		}
		return k, k + 1, nil
	}
	return 0, 0, fmt.Errorf("the load harness's Prometheus answers only %s and %s{series=\"K\"}, not %q", Metric, Metric, q)
}

// parseTime reads a Prometheus API time: Unix seconds with a fraction, or RFC 3339.
func parseTime(s string, def time.Time) (time.Time, error) {
	if s == "" {
		return def, nil
	}
	if x, err := strconv.ParseFloat(s, 64); err == nil {
		sec, frac := math.Modf(x)
		return time.Unix(int64(sec), int64(frac*1e9)), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("cannot parse %q to a valid timestamp", s)
	}
	return t, nil
}

// parseStep reads a step: seconds with a fraction, or a Go duration such as 15s.
func parseStep(s string) (time.Duration, error) {
	if x, err := strconv.ParseFloat(s, 64); err == nil {
		return time.Duration(x * float64(time.Second)), nil
	}
	return time.ParseDuration(s)
}

func badData(w http.ResponseWriter, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	b, _ := json.Marshal(map[string]string{"status": "error", "errorType": "bad_data", "error": msg})
	_, _ = w.Write(b)
}

// appendStamp writes a sample time as Prometheus does: seconds with milliseconds.
func appendStamp(b []byte, t time.Time) []byte {
	return strconv.AppendFloat(b, float64(t.UnixMilli())/1000, 'f', -1, 64)
}

func (f *FakeProm) instant(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if err := r.ParseForm(); err != nil {
		badData(w, err.Error())
		return
	}
	at, err := parseTime(r.Form.Get("time"), start)
	if err != nil {
		badData(w, "invalid parameter \"time\": "+err.Error())
		return
	}
	lo, hi, err := f.selectSeries(r.Form.Get("query"))
	if err != nil {
		badData(w, err.Error())
		return
	}
	size := 64
	if hi > lo {
		size += (hi - lo) * (len(f.prefix[lo]) + 40)
	}
	b := make([]byte, 0, size)
	b = append(b, `{"status":"success","data":{"resultType":"vector","result":[`...)
	for i := lo; i < hi; i++ {
		if i > lo {
			b = append(b, ',')
		}
		b = append(b, f.prefix[i]...)
		b = appendStamp(b, at)
		b = append(b, `,"`...)
		b = strconv.AppendFloat(b, f.Value(i, at), 'f', -1, 64)
		b = append(b, `"]}`...)
	}
	b = append(b, `]}}`...)
	f.write(w, b, start, false)
}

func (f *FakeProm) rangeQuery(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if err := r.ParseForm(); err != nil {
		badData(w, err.Error())
		return
	}
	from, err1 := parseTime(r.Form.Get("start"), time.Time{})
	to, err2 := parseTime(r.Form.Get("end"), time.Time{})
	step, err3 := parseStep(r.Form.Get("step"))
	switch {
	case err1 != nil || from.IsZero():
		badData(w, "invalid parameter \"start\"")
		return
	case err2 != nil || to.IsZero():
		badData(w, "invalid parameter \"end\"")
		return
	case err3 != nil || step <= 0:
		badData(w, "invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer")
		return
	case to.Before(from):
		badData(w, "end timestamp must not be before start time")
		return
	case to.Sub(from)/step >= maxRangePoints:
		badData(w, "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)")
		return
	}
	lo, hi, err := f.selectSeries(r.Form.Get("query"))
	if err != nil {
		badData(w, err.Error())
		return
	}
	b := []byte(`{"status":"success","data":{"resultType":"matrix","result":[`)
	for i := lo; i < hi; i++ {
		if i > lo {
			b = append(b, ',')
		}
		b = append(b, `{"metric":`...)
		b = append(b, seriesLabels(i)...)
		b = append(b, `,"values":[`...)
		for t := from; !t.After(to); t = t.Add(step) {
			if !t.Equal(from) {
				b = append(b, ',')
			}
			b = append(b, '[')
			b = appendStamp(b, t)
			b = append(b, `,"`...)
			b = strconv.AppendFloat(b, f.Value(i, t), 'f', -1, 64)
			b = append(b, `"]`...)
		}
		b = append(b, `]}`...)
	}
	b = append(b, `]}}`...)
	f.write(w, b, start, true)
}

func (f *FakeProm) write(w http.ResponseWriter, b []byte, start time.Time, isRange bool) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b) // #nosec G705 -- JSON of numbers and the fake's own labels, to the bot under test
	d := time.Since(start)
	f.mu.Lock()
	defer f.mu.Unlock()
	if isRange {
		f.stats.RangeQueries++
	} else {
		f.stats.Queries++
	}
	f.stats.Bytes += int64(len(b))
	f.stats.ServeTime += d
	f.stats.MaxServe = max(f.stats.MaxServe, d)
}
