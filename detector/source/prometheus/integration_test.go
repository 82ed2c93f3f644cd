//go:build integration

package prometheus

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
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

// TestIntegrationDecodeLikeClientGolang asks a real Prometheus for answers of every kind and
// reads each as client_golang does: node exporter's series, rates over a range, escaped label
// values, NaN and infinities, a scalar, a string, bad PromQL and an execution error.
func TestIntegrationDecodeLikeClientGolang(t *testing.T) {
	node := testenv.StartNodeExporter(t)
	promURL := testenv.StartPrometheus(t, testenv.PromOptions{ScrapeTargets: []string{node}})
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	ask := func(endpoint string, form url.Values) (int, []byte) {
		t.Helper()
		resp, err := http.PostForm(promURL+"/api/v1/"+endpoint, form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, body
	}
	// Wait for two scrapes, so rates have a value.
	for {
		if _, body := ask("query", url.Values{"query": {`rate(node_cpu_seconds_total[5s])`}}); bytes.Contains(body, []byte(`"value"`)) {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("no rate of node_cpu_seconds_total within 45s")
		case <-time.After(250 * time.Millisecond):
		}
	}
	now := time.Now()
	rng := func(q string) url.Values {
		return url.Values{"query": {q}, "start": {formatTime(now.Add(-10 * time.Second))}, "end": {formatTime(now)}, "step": {"0.5"}}
	}
	for _, tt := range []struct {
		name, endpoint string
		form           url.Values
		code           int
	}{
		{"raw series", "query", url.Values{"query": {`node_cpu_seconds_total`}}, 200},
		{"many labels", "query", url.Values{"query": {`{job="node"}`}}, 200},
		{"rates over a range", "query_range", rng(`rate(node_cpu_seconds_total[5s])`), 200},
		{"escaped labels", "query", url.Values{"query": {`label_replace(up, "weird", "a\"b\\c é ☃ \t/<>&", "", "")`}}, 200},
		{"specials", "query_range", rng(`label_replace(up/0, "k", "inf", "", "") or label_replace(-up/0, "k", "-inf", "", "") or ` +
			`label_replace((up-up)/0, "k", "nan", "", "") or label_replace(up*1e-300, "k", "tiny", "", "")`), 200},
		{"scalar", "query", url.Values{"query": {`scalar(sum(up))`}}, 200},
		{"string", "query", url.Values{"query": {`"hello"`}}, 200},
		{"bad data", "query", url.Values{"query": {`sum(rate(x[5s])`}}, 400},
		{"execution", "query", url.Values{"query": {`vector(1) + on() group_left() (label_replace(vector(1),"a","1","","") or label_replace(vector(1),"a","2","",""))`}}, 422},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, body := ask(tt.endpoint, tt.form)
			if code != tt.code {
				t.Fatalf("status %d, want %d: %s", code, tt.code, body)
			}
			checkLikeReference(t, code, body)
		})
	}
}

// TestIntegrationSourceFillsGaps runs a check's source against a real Prometheus: ticks on
// time read one point each, a tick after a gap reads the missed points at the check's interval
// with the values Prometheus evaluates there.
func TestIntegrationSourceFillsGaps(t *testing.T) {
	node := testenv.StartNodeExporter(t)
	promURL := testenv.StartPrometheus(t, testenv.PromOptions{ScrapeTargets: []string{node}})
	c, err := New(Options{URL: promURL, Logger: discard(), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	const query = `sum(node_cpu_seconds_total{job="node"})`
	for { // until Prometheus has seven seconds of it
		if s, err := c.Instant(ctx, query, time.Now().Add(-7*time.Second)); err != nil {
			t.Fatal(err)
		} else if len(s) == 1 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("no node_cpu_seconds_total within 45s")
		case <-time.After(250 * time.Millisecond):
		}
	}
	src, err := c.Source(SourceOptions{Query: query, Interval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	// The ticks' times are chosen, not waited for: Prometheus evaluates the past as well.
	end := time.Now().Truncate(time.Second)
	first, err := src.Fetch(ctx, end.Add(-6*time.Second))
	if err != nil || len(first) != 1 || len(first[0].Points) != 1 {
		t.Fatalf("first tick = %v, %v, want one point", first, err)
	}
	onTime, err := src.Fetch(ctx, end.Add(-5*time.Second))
	if err != nil || len(onTime) != 1 || len(onTime[0].Points) != 1 {
		t.Fatalf("tick on time = %v, %v, want one point", onTime, err)
	}
	late, err := src.Fetch(ctx, end)
	if err != nil || len(late) != 1 || len(late[0].Points) != 5 {
		t.Fatalf("tick after 5s = %v, %v, want the 5 points since the last tick", late, err)
	}
	if !sameMap(first[0].Labels, late[0].Labels) {
		t.Error("the series got a new label map")
	}
	for i, p := range late[0].Points {
		if want := end.Add(time.Duration(i-4) * time.Second); !p.T.Equal(want) {
			t.Errorf("point %d at %s, want %s", i, p.T, want)
		}
		// Each point is what an instant query at its time gives.
		at, err := c.Instant(ctx, query, p.T)
		if err != nil || len(at) != 1 || at[0].Points[0].V != p.V {
			t.Errorf("point %d = %v, an instant query at its time gives %v, %v", i, p.V, at, err)
		}
	}
}
