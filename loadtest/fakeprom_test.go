package loadtest

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/smartcloudops/smartcloudops/detector/source/prometheus"
)

// startProm serves a fake of n series and returns the bot's own Prometheus client for it.
func startProm(t *testing.T, n int) (*FakeProm, *prometheus.Client) {
	t.Helper()
	f := NewFakeProm(n, DefaultPattern())
	if err := f.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	c, err := prometheus.New(prometheus.Options{URL: f.URL, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return f, c
}

func TestFakePromInstantAnswersEverySeriesAsTheBotReadsIt(t *testing.T) {
	f, c := startProm(t, 300)
	at := time.Date(2024, 5, 1, 12, 0, 7, 0, time.UTC)
	got, err := c.Instant(context.Background(), Metric, at)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 300 {
		t.Fatalf("got %d series, want 300", len(got))
	}
	seen := map[string]bool{}
	for _, s := range got {
		i, err := strconv.Atoi(s.Labels["series"])
		if err != nil {
			t.Fatalf("series label of %v: %v", s.Labels, err)
		}
		if s.Labels["__name__"] != Metric || s.Labels["job"] != "loadtest" || !strings.HasPrefix(s.Labels["instance"], "host-") {
			t.Errorf("labels %v: want the metric, job and instance", s.Labels)
		}
		seen[s.Labels["series"]] = true
		if len(s.Points) != 1 || !s.Points[0].T.Equal(at) || s.Points[0].V != f.Value(i, at) {
			t.Errorf("series %d: points %v, want one at %s of %g", i, s.Points, at, f.Value(i, at))
		}
	}
	if len(seen) != 300 {
		t.Errorf("%d distinct series, want 300", len(seen))
	}
	if st := f.Stats(); st.Queries != 1 || st.Bytes == 0 {
		t.Errorf("stats %+v, want one instant query with its bytes", st)
	}
}

func TestFakePromStormLiftsEverySeriesFarOutsideItsPattern(t *testing.T) {
	f, c := startProm(t, 50)
	at := time.Date(2024, 5, 1, 3, 0, 0, 0, time.UTC)
	calm, err := c.Instant(context.Background(), Metric, at)
	if err != nil {
		t.Fatal(err)
	}
	f.SetStorm(true)
	storm, err := c.Instant(context.Background(), Metric, at)
	if err != nil {
		t.Fatal(err)
	}
	p := DefaultPattern()
	for i := range calm {
		lo, hi := p.Base-p.Amplitude-6*p.Noise, p.Base+p.Amplitude+6*p.Noise
		if v := calm[i].Points[0].V; v < lo || v > hi {
			t.Errorf("calm value %g outside the pattern [%g, %g]", v, lo, hi)
		}
		if d := storm[i].Points[0].V - calm[i].Points[0].V; math.Abs(d-p.Storm) > 1e-9 {
			t.Errorf("the storm moved series %s by %g, want %g", calm[i].Labels["series"], d, p.Storm)
		}
	}
}

func TestFakePromRangeAgreesWithInstantForOneSeries(t *testing.T) {
	f, c := startProm(t, 10)
	end := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	start := end.Add(-10 * time.Minute)
	got, err := c.Range(context.Background(), Metric+`{series="7"}`, start, end, 15*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Labels["series"] != "7" || len(got[0].Points) != 41 {
		t.Fatalf("got %d series (%v), want series 7 with 41 points", len(got), got)
	}
	for k, p := range got[0].Points {
		want := start.Add(time.Duration(k) * 15 * time.Second)
		if !p.T.Equal(want) || p.V != f.Value(7, want) {
			t.Errorf("point %d: %v, want %g at %s", k, p, f.Value(7, want), want)
		}
	}
	// A series that does not exist is an empty result, as Prometheus answers it.
	if none, err := c.Range(context.Background(), Metric+`{series="10"}`, start, end, time.Minute); err != nil || len(none) != 0 {
		t.Errorf("series 10 of 10: %v, %v; want no series and no error", none, err)
	}
}

func TestFakePromRefusesWhatPrometheusRefuses(t *testing.T) {
	_, c := startProm(t, 3)
	end := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		run  func() error
		want string
	}{
		{"more than 11,000 points", func() error {
			_, err := c.Range(context.Background(), Metric, end.Add(-11000*time.Second), end, time.Second)
			return err
		}, "11,000 points"},
		{"a query it cannot answer", func() error {
			_, err := c.Instant(context.Background(), "rate(x[5m])", end)
			return err
		}, `answers only loadtest_value`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			var qe *prometheus.QueryError
			if !errors.As(err, &qe) || qe.Type != "bad_data" || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want a bad_data QueryError saying %q", err, tc.want)
			}
		})
	}
}

func TestGaussIsStandardNormal(t *testing.T) {
	const n = 20000
	var sum, sq float64
	within := 0
	for i := range n {
		x := gauss(1, uint64(i%97), uint64(i))
		sum += x
		sq += x * x
		if math.Abs(x) < 1 {
			within++
		}
	}
	mean := sum / n
	sd := math.Sqrt(sq/n - mean*mean)
	if math.Abs(mean) > 0.03 || math.Abs(sd-1) > 0.03 || math.Abs(float64(within)/n-0.6827) > 0.02 {
		t.Errorf("mean %.3f, sd %.3f, %.3f within one sd; want 0, 1 and 0.683", mean, sd, float64(within)/n)
	}
	if gauss(1, 5, 9) != gauss(1, 5, 9) || gauss(1, 5, 9) == gauss(1, 5, 10) {
		t.Error("gauss must depend on its arguments alone")
	}
}

func TestParseTimeReadsBothForms(t *testing.T) {
	want := time.Date(2024, 5, 1, 12, 0, 7, 250e6, time.UTC)
	for _, s := range []string{"1714564807.25", "2024-05-01T12:00:07.25Z"} {
		got, err := parseTime(s, time.Time{})
		if err != nil || !got.Equal(want) {
			t.Errorf("parseTime(%q) = %s, %v; want %s", s, got, err, want)
		}
	}
	if _, err := parseTime("yesterday", time.Time{}); err == nil {
		t.Error("parseTime(yesterday): want an error")
	}
}
