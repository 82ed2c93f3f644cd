package prometheus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// rangeProm answers instant and range queries as Prometheus would for a series whose value at
// time t is t's seconds: every step of a range query gets a point. It records each request.
type rangeProm struct {
	mu   sync.Mutex
	reqs []string // "query@<time>" or "query_range@<start>..<end>/<step>"
	down bool
}

func (p *rangeProm) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	down := p.down
	p.mu.Unlock()
	if down {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	// Times are seconds with up to three decimals, read to the millisecond as Prometheus does.
	ms := func(key string) int64 {
		f, _ := strconv.ParseFloat(r.Form.Get(key), 64)
		return int64(math.Round(f * 1000))
	}
	var b strings.Builder
	point := func(ms int64) {
		s := strconv.FormatFloat(float64(ms)/1000, 'f', -1, 64)
		fmt.Fprintf(&b, `[%s,"%s"]`, s, s)
	}
	var rec string
	if strings.HasSuffix(r.URL.Path, "/query_range") {
		start, end, step := ms("start"), ms("end"), ms("step")
		rec = fmt.Sprintf("query_range@%s..%s/%s", r.Form.Get("start"), r.Form.Get("end"), r.Form.Get("step"))
		b.WriteString(`{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"job":"node"},"values":[`)
		for t := start; t <= end; t += step {
			if t > start {
				b.WriteByte(',')
			}
			point(t)
		}
		b.WriteString(`]}]}}`)
	} else {
		rec = "query@" + r.Form.Get("time")
		b.WriteString(`{"status":"success","data":{"resultType":"vector","result":[{"metric":{"job":"node"},"value":`)
		point(ms("time"))
		b.WriteString(`}]}}`)
	}
	p.mu.Lock()
	p.reqs = append(p.reqs, rec)
	p.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, b.String())
}

func (p *rangeProm) take() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.reqs
	p.reqs = nil
	return r
}

// TestSourceReadsWhatIsNew runs a check's ticks: on time, twice in one instant, late, after a
// failure and after a long gap. Each tick reads only the points after the last one read, at the
// check's interval, and the points it returns are those the server evaluated.
func TestSourceReadsWhatIsNew(t *testing.T) {
	prom := &rangeProm{}
	srv := httptest.NewServer(prom)
	t.Cleanup(srv.Close)
	c := newClient(t, Options{URL: srv.URL})
	src, err := c.Source(SourceOptions{Query: "up", Interval: 15 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	base := time.Unix(1700000000, 0)
	at := func(sec float64) time.Time { return base.Add(time.Duration(sec * float64(time.Second))) }
	tick := func(sec float64, wantReq string, wantPoints ...float64) {
		t.Helper()
		got, err := src.Fetch(context.Background(), at(sec))
		if err != nil {
			t.Fatalf("tick at +%vs: %v", sec, err)
		}
		reqs := prom.take()
		if wantReq == "" {
			if len(reqs) != 0 || len(got) != 0 {
				t.Fatalf("tick at +%vs asked %v and got %v, want nothing", sec, reqs, got)
			}
			return
		}
		if len(reqs) != 1 || reqs[0] != wantReq {
			t.Fatalf("tick at +%vs asked %v, want %s", sec, reqs, wantReq)
		}
		if len(got) != 1 || got[0].Labels["job"] != "node" || len(got[0].Points) != len(wantPoints) {
			t.Fatalf("tick at +%vs got %v, want one series of %d points", sec, got, len(wantPoints))
		}
		for i, p := range got[0].Points {
			if w := at(wantPoints[i]); !p.T.Equal(w) || p.V != float64(w.UnixMilli())/1000 {
				t.Errorf("tick at +%vs point %d = %v, want %v", sec, i, p, w)
			}
		}
	}
	tick(0, "query@1700000000", 0)                                            // the first tick reads its own instant
	tick(15.2, "query@1700000015.2", 15.2)                                    // on time, with jitter: one instant
	tick(15.2, "")                                                            // the same instant again: nothing new
	tick(10, "")                                                              // a clock that went back: nothing
	tick(31.9, "query@1700000031.9", 31.9)                                    // 16.7s late is still one interval
	tick(78.9, "query_range@1700000048.9..1700000078.9/15", 48.9, 63.9, 78.9) // two ticks were skipped
	tick(93.9004, "query@1700000093.9", 93.9)                                 // to the millisecond

	prom.mu.Lock()
	prom.down = true
	prom.mu.Unlock()
	if _, err := src.Fetch(context.Background(), at(108.9)); err == nil {
		t.Fatal("a failed query returned no error")
	}
	prom.take()
	prom.mu.Lock()
	prom.down = false
	prom.mu.Unlock()
	// The failed tick's point is read by the next one.
	tick(123.9, "query_range@1700000108.9..1700000123.9/15", 108.9, 123.9)
	// After an hour away, the last MaxPoints points: ten by default.
	tick(3723.9, "query_range@1700003588.9..1700003723.9/15", 3588.9, 3603.9, 3618.9, 3633.9, 3648.9, 3663.9, 3678.9, 3693.9, 3708.9, 3723.9)
}

// TestSourceSharesLabels checks that a series keeps its label map from tick to tick.
func TestSourceSharesLabels(t *testing.T) {
	srv := httptest.NewServer(&rangeProm{})
	t.Cleanup(srv.Close)
	src, err := newClient(t, Options{URL: srv.URL}).Source(SourceOptions{Query: "up", Interval: time.Second, MaxPoints: 1})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1700000000, 0)
	first, err := src.Fetch(context.Background(), now)
	if err != nil {
		t.Fatal(err)
	}
	// MaxPoints 1 reads only the tick's own point, however long the gap.
	second, err := src.Fetch(context.Background(), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(second) != 1 || len(second[0].Points) != 1 || !sameMap(first[0].Labels, second[0].Labels) {
		t.Fatalf("second tick = %v, want one point with the first tick's label map", second)
	}
}

func TestSourceOptions(t *testing.T) {
	c := newClient(t, Options{URL: "http://127.0.0.1:1"})
	_, err := c.Source(SourceOptions{MaxPoints: -1})
	for _, want := range []string{"Query is required", "Interval 0s must be positive", "MaxPoints -1 is negative"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not say %q", err, want)
		}
	}
	var qe *QueryError
	src, _ := c.Source(SourceOptions{Query: "up", Interval: time.Second})
	if _, err := src.Fetch(context.Background(), time.Unix(1700000000, 0)); !errors.As(err, &qe) || qe.Type != ErrTypeTransport {
		t.Errorf("Fetch from a closed port = %v, want a transport QueryError", err)
	}
}

// TestSourceAddsLabels: SourceOptions.Labels are in every series' one label map, a series label
// of the same name winning, and the map is still shared from tick to tick.
func TestSourceAddsLabels(t *testing.T) {
	srv := httptest.NewServer(&rangeProm{})
	t.Cleanup(srv.Close)
	extra := map[string]string{"job": "check's", "env": "prod"}
	src, err := newClient(t, Options{URL: srv.URL}).Source(SourceOptions{Query: "up", Interval: time.Second, MaxPoints: 1, Labels: extra})
	if err != nil {
		t.Fatal(err)
	}
	extra["env"] = "changed after" // the source keeps its own copy
	now := time.Unix(1700000000, 0)
	first, err := src.Fetch(context.Background(), now)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 1 || len(first[0].Labels) != 2 || first[0].Labels["job"] != "node" || first[0].Labels["env"] != "prod" {
		t.Fatalf("labels %v, want job=node (the series') and env=prod (the source's)", first)
	}
	second, err := src.Fetch(context.Background(), now.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if len(second) != 1 || !sameMap(first[0].Labels, second[0].Labels) {
		t.Fatalf("second tick = %v, want the first tick's label map", second)
	}
}
