package api

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smartcloudops/smartcloudops/remediation"
)

// BenchmarkAuthenticatedGET serves the API from a real http.Server on 127.0.0.1 and sends b.N
// authenticated GET requests from 32 concurrent keep-alive clients, reporting throughput (req/s)
// and the 99th percentile latency (p99_ms) seen by the clients. Run it on two cores with
// go test -run '^$' -bench AuthenticatedGET -cpu 2 ./api/
func BenchmarkAuthenticatedGET(b *testing.B) {
	for _, c := range []struct{ name, path string }{
		{"incidents", "/api/v1/incidents"},
		{"proposal", "/api/v1/proposals/{id}"},
		{"rules", "/api/v1/rules"},
	} {
		b.Run(c.name, func(b *testing.B) { benchGET(b, c.path) })
	}
}

func benchGET(b *testing.B, path string) {
	f := newFixture(b, func(o *Options) { o.RateLimit, o.RateBurst = 1e9, 1e9 })
	f.openIncident(b)
	for range 10 {
		f.propose(b, remediation.Policy{})
	}
	p := f.propose(b, remediation.Policy{})
	if path == "/api/v1/proposals/{id}" {
		path = "/api/v1/proposals/" + p.ID
	}
	mux := http.NewServeMux()
	for pat, h := range f.api.Routes() {
		mux.Handle(pat, h)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}()
	const clients = 8
	tr := &http.Transport{MaxIdleConns: clients, MaxIdleConnsPerHost: clients, IdleConnTimeout: 30 * time.Second}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	url := "http://" + ln.Addr().String() + path
	auth := "Bearer " + f.tokens["viewer"]

	lat := make([]time.Duration, b.N)
	var next atomic.Int64
	var failed atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for range clients {
		wg.Go(func() {
			req, _ := http.NewRequest("GET", url, nil)
			req.Header.Set("Authorization", auth)
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					failed.Add(1)
				}
				lat[i] = time.Since(t0)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d of %d requests failed", n, b.N)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	b.ReportMetric(float64(lat[min(len(lat)-1, len(lat)*99/100)])/float64(time.Millisecond), "p99_ms")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkHandler measures the API's own cost for one authenticated GET, without the network.
func BenchmarkHandler(b *testing.B) {
	f := newFixture(b, func(o *Options) { o.RateLimit, o.RateBurst = 1e9, 1e9 })
	f.openIncident(b)
	h := f.api.Routes()["GET /api/v1/incidents"]
	mux := http.NewServeMux()
	mux.Handle("GET /api/v1/incidents", h)
	auth := "Bearer " + f.tokens["viewer"]
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		req := httptest.NewRequest("GET", "/api/v1/incidents", nil)
		req.Header.Set("Authorization", auth)
		for pb.Next() {
			w := httptest.NewRecorder()
			mux.ServeHTTP(w, req)
			if w.Code != http.StatusOK {
				b.Fatalf("status %d", w.Code)
			}
		}
	})
}
