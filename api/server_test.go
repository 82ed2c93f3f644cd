package api

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smartcloudops/smartcloudops/internal/obs"
)

func TestHealthReadyMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "smartcloudops_test_total", Help: "x"})
	reg.MustRegister(c)
	c.Inc()
	ready := errors.New("store not open")
	s, err := NewServer(ServerOptions{Addr: "127.0.0.1:0", Gatherer: reg, Logger: obs.Discard(), Ready: func() (string, error) { return "degraded checks: cpu: refused", ready }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	get := func(path string, hdr map[string]string) (int, string, http.Header) {
		req, _ := http.NewRequest("GET", "http://"+s.Addr()+path, nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}
	if code, body, _ := get("/healthz", nil); code != 200 || body != "ok\n" {
		t.Fatalf("healthz %d %q", code, body)
	}
	if code, body, _ := get("/readyz", nil); code != 503 || !strings.Contains(body, "store not open") {
		t.Fatalf("readyz %d %q", code, body)
	}
	ready = nil
	if code, body, _ := get("/readyz", nil); code != 200 || !strings.Contains(body, "degraded checks: cpu: refused") {
		t.Fatalf("readyz after ready %d", code)
	}
	if code, body, _ := get("/metrics", nil); code != 200 || !strings.Contains(body, "smartcloudops_test_total 1") {
		t.Fatalf("metrics %d %q", code, body)
	}
	if _, _, h := get("/healthz", map[string]string{"X-Request-ID": "abc-123"}); h.Get("X-Request-ID") != "abc-123" {
		t.Fatal("request ID not echoed")
	}
	if _, _, h := get("/healthz", map[string]string{"X-Request-ID": "bad id with spaces"}); !strings.HasPrefix(h.Get("X-Request-ID"), "c-") {
		t.Fatal("bad request ID not replaced")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
