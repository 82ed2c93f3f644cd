package alertmanager

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// batchBody builds a webhook message of n firing alerts with realistic labels.
func batchBody(batch, n int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"receiver":"smartcloudops","status":"firing","version":"4","groupKey":"{}:{alertname=\"HostHighCpu\",batch=\"%d\"}","truncatedAlerts":0,`, batch)
	b.WriteString(`"groupLabels":{"alertname":"HostHighCpu"},"commonLabels":{"alertname":"HostHighCpu","job":"node"},"commonAnnotations":{},"externalURL":"http://alertmanager:9093","alerts":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"status":"firing","labels":{"alertname":"HostHighCpu","instance":"web-%d-%d:9100","job":"node","severity":"warning","team":"platform"},`+
			`"annotations":{"summary":"CPU above 90%% on web-%d-%d","runbook_url":"https://runbooks.example/cpu"},`+
			`"startsAt":"2024-05-01T12:00:00.123Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prometheus:9090/graph?g0.expr=cpu","fingerprint":"%016x"}`,
			batch, i, batch, i, batch*100000+i)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

// intake is a Handler on a 127.0.0.1 httptest server with a counting Deliver.
type intake struct {
	srv       *httptest.Server
	delivered atomic.Int64
}

func newIntake(b *testing.B) *intake {
	in := &intake{}
	h, err := NewHandler(HandlerOptions{
		Deliver: func(_ context.Context, m *Message) error {
			in.delivered.Add(int64(len(m.Alerts)))
			return nil
		},
		Logger:     slog.New(slog.DiscardHandler),
		Registerer: prometheus.NewRegistry(),
	})
	if err != nil {
		b.Fatal(err)
	}
	in.srv = httptest.NewServer(h)
	b.Cleanup(in.srv.Close)
	return in
}

// post sends bodies from workers goroutines and returns every request's latency. With a
// positive interval, body i is not sent before start+i*interval, which paces a sustained rate.
func post(b *testing.B, client *http.Client, url string, bodies [][]byte, workers int, interval time.Duration) []time.Duration {
	begin := time.Now()
	lat := make([]time.Duration, len(bodies))
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(bodies) {
					return
				}
				if interval > 0 {
					if d := time.Until(begin.Add(time.Duration(i) * interval)); d > 0 {
						time.Sleep(d)
					}
				}
				start := time.Now()
				resp, err := client.Post(url, "application/json", bytes.NewReader(bodies[i]))
				if err != nil {
					errs <- err
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				lat[i] = time.Since(start)
				if resp.StatusCode != http.StatusOK {
					errs <- fmt.Errorf("request %d: HTTP %d", i, resp.StatusCode)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	return lat
}

func p99(lat []time.Duration) time.Duration {
	s := slices.Clone(lat)
	slices.Sort(s)
	return s[(len(s)*99)/100]
}

// heapPeak samples the live heap every 5 ms until stop is closed and returns the largest value.
func heapPeak(stop <-chan struct{}) <-chan uint64 {
	out := make(chan uint64, 1)
	go func() {
		var peak uint64
		var ms runtime.MemStats
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
			select {
			case <-stop:
				out <- peak
				return
			case <-t.C:
			}
		}
	}()
	return out
}

// runBurst posts notifications of 100 alerts per iteration (from
// concurrent senders, as several Alertmanager groups would) over loopback, checks that every
// alert was delivered, and reports alerts/s, the p99 request latency, the peak heap above the
// heap before the burst (live data plus garbage not yet collected) and what stays live after it.
func runBurst(b *testing.B, notifications, senders int, interval time.Duration) {
	const perNotification = 100
	in := newIntake(b)
	// Sixteen distinct bodies, sent in turn, keep the prepared data out of the heap figures.
	distinct := make([][]byte, 16)
	for i := range distinct {
		distinct[i] = batchBody(i, perNotification)
	}
	bodies := make([][]byte, notifications)
	for i := range bodies {
		bodies[i] = distinct[i%len(distinct)]
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: senders}}
	defer client.CloseIdleConnections()
	var all []time.Duration
	var peak, retained uint64
	var elapsed time.Duration
	for b.Loop() {
		in.delivered.Store(0)
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		base := ms.HeapAlloc
		stop := make(chan struct{})
		peakc := heapPeak(stop)
		start := time.Now()
		all = append(all, post(b, client, in.srv.URL, bodies, senders, interval)...)
		elapsed += time.Since(start)
		close(stop)
		if p := <-peakc; p > base {
			peak = max(peak, p-base)
		}
		if got := in.delivered.Load(); got != int64(notifications*perNotification) {
			b.Fatalf("delivered %d alerts, sent %d", got, notifications*perNotification)
		}
		runtime.GC()
		runtime.ReadMemStats(&ms)
		if ms.HeapAlloc > base {
			retained = max(retained, ms.HeapAlloc-base)
		}
	}
	b.ReportMetric(float64(b.N*notifications*perNotification)/elapsed.Seconds(), "alerts/s")
	b.ReportMetric(float64(p99(all).Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
	b.ReportMetric(float64(retained)/(1<<20), "retained-MB")
}

// BenchmarkWebhookIntakeBurst sends the 100,000-alert burst as fast as 4 senders can.
func BenchmarkWebhookIntakeBurst(b *testing.B) { runBurst(b, 1000, 4, 0) }

// BenchmarkWebhookIntakeSustained sends 50,000 alerts at a steady 10,000 alerts/s (a 100-alert
// notification every 10 ms), twice the 5,000 alerts/s target, for five seconds.
func BenchmarkWebhookIntakeSustained(b *testing.B) { runBurst(b, 500, 4, 10*time.Millisecond) }

// BenchmarkWebhookIntakeSingle measures one notification of 100 alerts at a time from one sender.
func BenchmarkWebhookIntakeSingle(b *testing.B) {
	in := newIntake(b)
	body := batchBody(0, 100)
	client := &http.Client{}
	defer client.CloseIdleConnections()
	var lat []time.Duration
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		lat = append(lat, post(b, client, in.srv.URL, [][]byte{body}, 1, 0)...)
	}
	b.ReportMetric(float64(in.delivered.Load())/b.Elapsed().Seconds(), "alerts/s")
	b.ReportMetric(float64(p99(lat).Microseconds())/1000, "p99-ms")
}

// BenchmarkParse100Alerts measures Parse alone on a 100-alert message.
func BenchmarkParse100Alerts(b *testing.B) {
	body := batchBody(0, 100)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		m, err := Parse(bytes.NewReader(body), DefaultMaxBodyBytes)
		if err != nil || len(m.Alerts) != 100 {
			b.Fatal(err)
		}
	}
}
