package api

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smartcloudops/smartcloudops/detector"
	"github.com/smartcloudops/smartcloudops/incident"
	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/internal/store"
	"github.com/smartcloudops/smartcloudops/remediation"
	"github.com/smartcloudops/smartcloudops/remediation/audit"
)

// BenchmarkListPage serves one page of 50 from a bbolt store holding 5,000 and 100,000 incidents
// and as many proposals, through the API's handler (no network), and reports the latency of a
// request at the 50th and 99th percentiles (p50_ms, p99_ms). One incident in a thousand is open,
// the others resolved; one proposal in a thousand is pending, the others expired. Filling the
// store takes a while (about a minute for 100,000 on two cores). Run it with
// go test -run '^$' -bench ListPage -benchmem -cpu 1 ./api
func BenchmarkListPage(b *testing.B) {
	for _, n := range []int{5000, 100000} {
		b.Run(fmt.Sprintf("stored=%dk", n/1000), func(b *testing.B) {
			h, auth := listBenchAPI(b, n)
			for _, path := range []string{
				"/api/v1/incidents?state=all&limit=50",
				"/api/v1/incidents?limit=50", // the open ones
				"/api/v1/incidents?state=resolved&limit=50",
				"/api/v1/proposals?state=all&limit=50",
				"/api/v1/proposals?limit=50", // the pending ones
				"/api/v1/proposals?state=expired&limit=50",
			} {
				b.Run(path[len("/api/v1/"):], func(b *testing.B) {
					req := httptest.NewRequest("GET", path, nil)
					req.Header.Set("Authorization", auth)
					lat := make([]time.Duration, 0, b.N)
					b.ReportAllocs()
					b.ResetTimer()
					for range b.N {
						start := time.Now()
						w := httptest.NewRecorder()
						h.ServeHTTP(w, req)
						lat = append(lat, time.Since(start))
						if w.Code != http.StatusOK {
							b.Fatalf("%s: %d %s", path, w.Code, w.Body)
						}
					}
					b.StopTimer()
					slices.Sort(lat)
					ms := func(q int) float64 { return float64(lat[min(len(lat)-1, len(lat)*q/100)]) / float64(time.Millisecond) }
					b.ReportMetric(ms(50), "p50_ms")
					b.ReportMetric(ms(99), "p99_ms")
				})
			}
		})
	}
}

// listBenchAPI fills a bbolt store with n incidents and n proposals, made by the real Managers on
// a memory store and copied over (the audit log left behind: no list reads it), and returns the
// API's routes on it with a viewer's Authorization header. The open incidents are spread over
// the whole time range; the pending proposals are the newest.
func listBenchAPI(b *testing.B, n int) (http.Handler, string) {
	b.Helper()
	ctx := context.Background()
	mem := store.NewMemory()
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	inc, err := incident.New(incident.Options{Store: mem, Now: clk.Now})
	if err != nil {
		b.Fatal(err)
	}
	const tick = 500
	for i := 0; i < n; i += tick {
		open, shut := detector.Tick{Check: "cpu", T: clk.Now()}, detector.Tick{Check: "cpu", T: clk.Now()}
		for j := i; j < min(n, i+tick); j++ {
			labels := map[string]string{"host": fmt.Sprintf("h%07d", j)}
			open.Events = append(open.Events, detector.Event{Anomaly: &detector.Anomaly{Check: "cpu", Severity: "warning", Opened: true,
				Labels: labels, T: clk.Now(), Value: 91, Score: 0.9, Expected: 40, Lower: 30, Upper: 50, Since: clk.Now()}})
			if j%1000 != 999 {
				shut.Events = append(shut.Events, detector.Event{Recovery: &detector.Recovery{Check: "cpu", Labels: labels, T: clk.Now()}})
			}
		}
		if _, err := inc.ApplyTick(ctx, open); err != nil {
			b.Fatal(err)
		}
		clk.Add(time.Minute)
		if _, err := inc.ApplyTick(ctx, shut); err != nil {
			b.Fatal(err)
		}
	}
	al, err := audit.New(audit.Options{Store: mem, Now: clk.Now})
	if err != nil {
		b.Fatal(err)
	}
	act := &countingAction{}
	mg, err := remediation.New(remediation.Options{Store: mem, Audit: al, Now: clk.Now, DefaultExpiry: time.Hour,
		Actions: func(name string) (remediation.Action, bool) { return act, name == "test.scale" }})
	if err != nil {
		b.Fatal(err)
	}
	propose := func(i int) {
		if _, err := mg.Propose(ctx, remediation.Request{Action: "test.scale", Params: map[string]any{"group": fmt.Sprintf("asg-%d", i%50), "to": 3},
			Rule: "web-cpu-high", RuleVersion: "v1", Requester: ruleActor}); err != nil {
			b.Fatal(err)
		}
		clk.Add(time.Second)
	}
	for i := range n - n/1000 {
		propose(i)
	}
	clk.Add(2 * time.Hour)
	if err := mg.ExpireDue(ctx); err != nil {
		b.Fatal(err)
	}
	for i := n - n/1000; i < n; i++ {
		propose(i) // pending
	}

	// Copied in large transactions: a bbolt commit syncs the file, and this is set-up.
	kvs, err := mem.List(ctx, "")
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "smartcloudops.db")
	fill, err := store.OpenBolt(path, store.BoltOptions{})
	if err != nil {
		b.Fatal(err)
	}
	var ops []store.Op
	for i, kv := range kvs {
		if !strings.HasPrefix(kv.Key, "audit/") {
			ops = append(ops, store.Op{Key: kv.Key, Value: kv.Value})
		}
		if len(ops) == 20000 || (i == len(kvs)-1 && len(ops) > 0) {
			if _, err := fill.Txn(ctx, nil, ops); err != nil {
				b.Fatal(err)
			}
			ops = ops[:0]
		}
	}
	if err := fill.Close(); err != nil {
		b.Fatal(err)
	}
	bolt, err := store.OpenBolt(path, store.BoltOptions{EtcdLimits: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { bolt.Close() })
	if inc, err = incident.New(incident.Options{Store: bolt, Now: clk.Now}); err != nil {
		b.Fatal(err)
	}
	if al, err = audit.New(audit.Options{Store: bolt, Now: clk.Now}); err != nil {
		b.Fatal(err)
	}
	if mg, err = remediation.New(remediation.Options{Store: bolt, Audit: al, Now: clk.Now,
		Actions: func(name string) (remediation.Action, bool) { return act, name == "test.scale" }}); err != nil {
		b.Fatal(err)
	}
	a, err := New(Options{Store: bolt, Incidents: inc, Proposals: mg, Audit: al, Logger: obs.Discard(), Registerer: prometheus.NewRegistry(),
		Now: clk.Now, RateLimit: 1e9, RateBurst: 1e9})
	if err != nil {
		b.Fatal(err)
	}
	tok, _, err := a.Keys().Create(ctx, "bench", RoleViewer, 0)
	if err != nil {
		b.Fatal(err)
	}
	mux := http.NewServeMux()
	for p, h := range a.Routes() {
		mux.Handle(p, h)
	}
	return mux, "Bearer " + tok
}
