package loadtest

import (
	"math"
	"strings"
	"testing"
	"time"
)

const exposition = `# HELP smartcloudops_detector_tick_duration_seconds Duration of one check tick: fetch and score.
# TYPE smartcloudops_detector_tick_duration_seconds histogram
smartcloudops_detector_tick_duration_seconds_bucket{check="load",le="0.1"} 0
smartcloudops_detector_tick_duration_seconds_bucket{check="load",le="0.5"} 50
smartcloudops_detector_tick_duration_seconds_bucket{check="load",le="1"} 100
smartcloudops_detector_tick_duration_seconds_bucket{check="load",le="+Inf"} 100
smartcloudops_detector_tick_duration_seconds_sum{check="load"} 45
smartcloudops_detector_tick_duration_seconds_count{check="load"} 100
smartcloudops_detector_tick_duration_seconds_bucket{check="other",le="0.1"} 7
smartcloudops_detector_tick_duration_seconds_bucket{check="other",le="0.5"} 7
smartcloudops_detector_tick_duration_seconds_bucket{check="other",le="1"} 7
smartcloudops_detector_tick_duration_seconds_bucket{check="other",le="+Inf"} 7
smartcloudops_detector_tick_duration_seconds_sum{check="other"} 0.1
smartcloudops_detector_tick_duration_seconds_count{check="other"} 7
# HELP smartcloudops_notifier_cards_total Cards.
# TYPE smartcloudops_notifier_cards_total counter
smartcloudops_notifier_cards_total{op="post",platform="console"} 3
smartcloudops_notifier_cards_total{op="edit",platform="console"} 5
smartcloudops_notifier_cards_total{op="post",platform="slack"} 4
# HELP process_resident_memory_bytes Resident memory size in bytes.
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes 1.2e+08
`

func TestParseMetricsSumsAndHistograms(t *testing.T) {
	m, err := ParseMetrics(strings.NewReader(exposition))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		want map[string]string
		sum  float64
	}{
		{mCards, nil, 12},
		{mCards, map[string]string{"op": "post"}, 7},
		{mCards, map[string]string{"op": "post", "platform": "console"}, 3},
		{mRSS, nil, 1.2e8},
		{"absent", nil, 0},
	} {
		if got := m.Sum(tc.name, tc.want); got != tc.sum {
			t.Errorf("Sum(%s, %v) = %g, want %g", tc.name, tc.want, got, tc.sum)
		}
	}
	h := m.Histogram(mTick, checkLoad)
	if h.Count != 100 || h.Sum != 45 || h.Mean() != 0.45 {
		t.Errorf("histogram %+v: want count 100, sum 45", h)
	}
	if all := m.Histogram(mTick, nil); all.Count != 107 {
		t.Errorf("both checks: count %g, want 107", all.Count)
	}
}

func TestHistQuantileInterpolatesAsPrometheusDoes(t *testing.T) {
	h := Hist{Count: 100, Buckets: []Bucket{{0.1, 0}, {0.5, 50}, {1, 100}, {math.Inf(1), 100}}}
	for _, tc := range []struct{ q, want float64 }{{0.5, 0.5}, {0.99, 0.99}, {0.25, 0.3}, {0.75, 0.75}} {
		if got := h.Quantile(tc.q); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("q%g = %g, want %g", tc.q, got, tc.want)
		}
	}
	// A rank in +Inf is the highest finite bound.
	over := Hist{Count: 10, Buckets: []Bucket{{1, 5}, {10, 8}, {math.Inf(1), 10}}}
	if got := over.Quantile(0.99); got != 10 {
		t.Errorf("rank in +Inf: %g, want 10", got)
	}
	if top, above := over.Top(); top != 10 || above != 2 {
		t.Errorf("Top() = %g, %d; want 10 and the 2 observations above it", top, above)
	}
	if got := (Hist{}).Quantile(0.5); !math.IsNaN(got) {
		t.Errorf("empty: %g, want NaN", got)
	}
}

func TestHistSubIsWhatWasObservedBetween(t *testing.T) {
	before := Hist{Count: 10, Sum: 2, Buckets: []Bucket{{1, 10}, {10, 10}, {math.Inf(1), 10}}}
	after := Hist{Count: 14, Sum: 22, Buckets: []Bucket{{1, 10}, {10, 14}, {math.Inf(1), 14}}}
	d := after.Sub(before)
	if d.Count != 4 || d.Sum != 20 || d.Quantile(0.5) != 5.5 {
		t.Errorf("difference %+v (median %g): want 4 observations between 1 and 10, median 5.5", d, d.Quantile(0.5))
	}
}

func TestWriteBurstsGroupsSavesAndLeavesCutOnesOut(t *testing.T) {
	t0 := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	var s []ioSample
	bytes := int64(0)
	// One sample a second for 40 s: writing in 0–2 (cut: it was going on at the start), 10–12,
	// a 1 s pause inside 25–29 (one burst), and 38–39 (cut: still going at the end).
	for i := range 40 {
		switch {
		case i <= 2, i >= 10 && i <= 12, i >= 25 && i <= 29 && i != 27, i >= 38:
			bytes += 100
		}
		s = append(s, ioSample{At: t0.Add(time.Duration(i) * time.Second), Bytes: bytes})
	}
	got := writeBursts(s, 2*time.Second)
	if len(got) != 2 || got[0].Bytes != 300 || got[1].Bytes != 400 || got[0].Took != 3*time.Second {
		t.Errorf("bursts %+v: want two whole ones, of 300 bytes over 3 s and of 400", got)
	}
}

func TestSplitSavesFromSmallWrites(t *testing.T) {
	saves, other := splitSaves([]burst{{Bytes: 600e6}, {Bytes: 81920}, {Bytes: 550e6}, {Bytes: 331776}, {Bytes: 70e6}})
	if len(saves) != 3 || len(other) != 2 || saves[2].Bytes != 70e6 {
		t.Errorf("saves %v, other %v: want the three bursts of at least a tenth of the largest as saves", saves, other)
	}
}

func TestParseWrkFindsTheSummary(t *testing.T) {
	out := []byte("Running 2s test @ http://127.0.0.1:1/api/v1/alertmanager\n  2 threads and 4 connections\n" +
		`LOADTEST {"requests":1051,"duration_us":2084568,"status_errors":3,"connect_errors":0,"read_errors":0,"write_errors":0,"timeouts":1,"p50_us":6802,"p90_us":28883,"p99_us":93415,"max_us":111988,"threads":2}` + "\n")
	r, err := parseWrk(out)
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests != 1051 || r.Acked() != 1048 || r.P99US != 93415 || r.Timeouts != 1 {
		t.Errorf("result %+v", r)
	}
	if _, err := parseWrk([]byte("unable to connect to 127.0.0.1:1 Connection refused\n")); err == nil {
		t.Error("no summary: want an error")
	}
}

func TestQuantileMSNearestRank(t *testing.T) {
	var d []time.Duration
	for i := 100; i >= 1; i-- {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	if p50, p99 := quantileMS(d, 0.5), quantileMS(d, 0.99); p50 != 50 || p99 != 99 {
		t.Errorf("p50 %g, p99 %g; want 50 and 99", p50, p99)
	}
	if quantileMS(nil, 0.5) != 0 {
		t.Error("no durations: want 0")
	}
}
