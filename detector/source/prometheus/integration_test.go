//go:build integration

package prometheus

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/smartcloudops/smartcloudops/internal/testenv"
)

// TestIntegrationNodeExporter runs a real Prometheus scraping a real node exporter and reads
// node_cpu_seconds_total through the source, instant and range.
func TestIntegrationNodeExporter(t *testing.T) {
	node := testenv.StartNodeExporter(t)
	promURL := testenv.StartPrometheus(t, testenv.PromOptions{
		ScrapeTargets:  []string{node},
		ScrapeInterval: time.Second,
		EvalInterval:   time.Second,
	})
	c, err := New(Options{URL: promURL, Logger: discard(), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()

	// rate() needs two scrapes in its window; wait for them with a bounded poll.
	const query = `sum by (mode) (rate(node_cpu_seconds_total{job="node"}[5s]))`
	var series []Series
	for {
		series, err = c.Instant(ctx, query, time.Time{})
		if err != nil {
			t.Fatalf("Instant: %v", err)
		}
		if len(series) > 0 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("no rate of node_cpu_seconds_total within 45s")
		case <-time.After(250 * time.Millisecond):
		}
	}
	modes := map[string]bool{}
	for _, s := range series {
		if len(s.Points) != 1 {
			t.Errorf("instant series %v has %d points", s.Labels, len(s.Points))
		}
		if s.Points[0].V < 0 {
			t.Errorf("negative CPU rate %v for %v", s.Points[0].V, s.Labels)
		}
		modes[s.Labels["mode"]] = true
	}
	if !modes["idle"] || !modes["user"] || !modes["system"] {
		t.Errorf("modes %v lack idle, user or system", modes)
	}

	// The raw counter keeps __name__ and the target labels.
	raw, err := c.Instant(ctx, `node_cpu_seconds_total{mode="idle"}`, time.Time{})
	if err != nil || len(raw) == 0 {
		t.Fatalf("Instant(raw counter) = %d series, %v", len(raw), err)
	}
	if raw[0].Labels["__name__"] != "node_cpu_seconds_total" || raw[0].Labels["instance"] != node || raw[0].Labels["cpu"] == "" {
		t.Errorf("raw series labels = %v", raw[0].Labels)
	}

	// A range over the last ten seconds fills up as scrapes arrive; wait for three points.
	var rng []Series
	for {
		end := time.Now()
		rng, err = c.Range(ctx, `sum(rate(node_cpu_seconds_total[5s]))`, end.Add(-10*time.Second), end, time.Second)
		if err != nil {
			t.Fatalf("Range: %v", err)
		}
		if len(rng) > 1 {
			t.Fatalf("Range = %+v, want one series", rng)
		}
		if len(rng) == 1 && len(rng[0].Points) >= 3 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("Range = %+v after 45s, want one series with three points or more", rng)
		case <-time.After(250 * time.Millisecond):
		}
	}
	for i := 1; i < len(rng[0].Points); i++ {
		if d := rng[0].Points[i].T.Sub(rng[0].Points[i-1].T); d != time.Second {
			t.Errorf("points %d and %d are %s apart, want the 1s step", i-1, i, d)
		}
	}

	// A real server's bad_data error comes back typed and naming the query.
	_, err = c.Instant(ctx, `sum(rate(node_cpu_seconds_total[5s])`, time.Time{})
	var qe *QueryError
	if !errors.As(err, &qe) || qe.Type != "bad_data" || !qe.UserError() {
		t.Fatalf("bad PromQL error = %v, want a bad_data QueryError", err)
	}
}
