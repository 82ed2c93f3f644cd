package prometheus

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
)

// seriesLabels writes the label object of series i, shaped like node exporter's CPU series.
func seriesLabels(b *strings.Builder, i int) {
	fmt.Fprintf(b, `{"__name__":"node_cpu_seconds_total","cpu":"%d","instance":"host-%d.example.internal:9100","job":"node","mode":"idle"}`, i%64, i)
}

// vectorJSON builds an instant query answer with n series.
func vectorJSON(n int) string {
	var b strings.Builder
	b.WriteString(`{"status":"success","data":{"resultType":"vector","result":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"metric":`)
		seriesLabels(&b, i)
		fmt.Fprintf(&b, `,"value":[1700000000.123,"%d.%d"]}`, 1000+i, i%1000)
	}
	b.WriteString(`]}}`)
	return b.String()
}

// matrixJSON builds a query_range answer with n series of p points each.
func matrixJSON(n, p int) string {
	var b strings.Builder
	b.WriteString(`{"status":"success","data":{"resultType":"matrix","result":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"metric":`)
		seriesLabels(&b, i)
		b.WriteString(`,"values":[`)
		for j := range p {
			if j > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `[%d,"%d.%d"]`, 1700000000+15*j, i+j, j%10)
		}
		b.WriteString(`]}`)
	}
	b.WriteString(`]}}`)
	return b.String()
}

// benchDecode decodes body with client_golang (before this package had its own decoder), with
// the decoder, and with the decoder and a warm label cache (a check's steady tick).
func benchDecode(b *testing.B, body []byte, series int) {
	b.Run("client_golang", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		defer cpuPerOp(b)()
		for b.Loop() {
			if ref := referenceDecode(200, body); ref.err != nil || len(ref.series) != series {
				b.Fatalf("%d series, %v", len(ref.series), ref.err)
			}
		}
	})
	b.Run("stream", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		defer cpuPerOp(b)()
		for b.Loop() {
			if res, err := decodeResponse(200, bytes.NewReader(body), nil, 0); err != nil || len(res.series) != series {
				b.Fatalf("%d series, %v", len(res.series), err)
			}
		}
	})
	b.Run("stream_cached", func(b *testing.B) {
		var cache labelCache
		decode := func() {
			cache.begin()
			res, err := decodeResponse(200, bytes.NewReader(body), &cache, series)
			if err != nil || len(res.series) != series {
				b.Fatalf("%d series, %v", len(res.series), err)
			}
			cache.sweep()
		}
		decode()
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		defer cpuPerOp(b)()
		for b.Loop() {
			decode()
		}
	})
}

// BenchmarkDecodeVector100k decodes an instant query answer of 100,000 series.
func BenchmarkDecodeVector100k(b *testing.B) {
	benchDecode(b, []byte(vectorJSON(100_000)), 100_000)
}

// BenchmarkDecodeMatrix10kx4 decodes a range query answer of 10,000 series of 4 points.
func BenchmarkDecodeMatrix10kx4(b *testing.B) {
	benchDecode(b, []byte(matrixJSON(10_000, 4)), 10_000)
}

// BenchmarkFetch100k runs one query whose answer has 100,000 series, over loopback HTTP: the
// request, the answer's transfer and decoding into detector series. client_golang is the path
// before this package had its own decoder; instant is Client.Instant; source is a check's
// steady tick (Source.Fetch, its label cache warm).
func BenchmarkFetch100k(b *testing.B) {
	const n = 100_000
	body := []byte(vectorJSON(n))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	defer srv.Close()
	c, err := New(Options{URL: srv.URL, Logger: discard(), Timeout: time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	now := time.Unix(1700000000, 0)
	b.Run("client_golang", func(b *testing.B) {
		pc, err := promapi.NewClient(promapi.Config{Address: srv.URL})
		if err != nil {
			b.Fatal(err)
		}
		api := promv1.NewAPI(pc)
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		defer cpuPerOp(b)()
		for b.Loop() {
			v, _, _, err := api.Query(context.Background(), "q", now)
			if err != nil {
				b.Fatal(err)
			}
			if s, _, err := translate(v); err != nil || len(s) != n {
				b.Fatalf("%d series, %v", len(s), err)
			}
		}
	})
	b.Run("instant", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		defer cpuPerOp(b)()
		for b.Loop() {
			if s, err := c.Instant(context.Background(), "q", now); err != nil || len(s) != n {
				b.Fatalf("%d series, %v", len(s), err)
			}
		}
	})
	b.Run("source", func(b *testing.B) {
		src, err := c.Source(SourceOptions{Query: "q", Interval: 15 * time.Second})
		if err != nil {
			b.Fatal(err)
		}
		// The first tick learns the series' labels; the steady ticks after it are measured.
		before := heapInUse()
		// What the source keeps between ticks, without the tick's own series.
		if _, err := src.Fetch(context.Background(), now); err != nil {
			b.Fatal(err)
		}
		kept := float64(heapInUse()-before) / n
		defer func() { b.ReportMetric(kept, "kept-B/series") }()
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		defer cpuPerOp(b)()
		tick := now
		for b.Loop() {
			tick = tick.Add(15 * time.Second)
			if s, err := src.Fetch(context.Background(), tick); err != nil || len(s) != n {
				b.Fatalf("%d series, %v", len(s), err)
			}
		}
	})
}

// BenchmarkRange1000Series measures a range query of 1,000 series × 60 points over loopback
// through Client.Range.
func BenchmarkRange1000Series(b *testing.B) {
	body := matrixJSON(1000, 60)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(body))
	}))
	defer srv.Close()
	c, err := New(Options{URL: srv.URL, Logger: discard()})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	start := time.Unix(1700000000, 0)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		s, err := c.Range(context.Background(), "rate(node_cpu_seconds_total[1m])", start, start.Add(15*time.Minute), 15*time.Second)
		if err != nil || len(s) != 1000 {
			b.Fatalf("Range: %d series, %v", len(s), err)
		}
	}
}

// cpuPerOp reports the CPU time the process spent per operation (all goroutines: the garbage
// collector's work and, for the HTTP benchmarks, the test server's count too), a steadier figure
// than the wall time on a machine whose cores are shared. Call the function it returns when
// the loop is done.
func cpuPerOp(b *testing.B) func() {
	start := cpuTime()
	return func() {
		if b.N > 0 {
			b.ReportMetric(float64((cpuTime()-start).Nanoseconds())/float64(b.N), "cpu-ns/op")
		}
	}
}

// heapInUse is the live heap after a collection.
func heapInUse() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
