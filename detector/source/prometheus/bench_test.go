package prometheus

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

// matrixJSON builds a query_range answer with n series of p points each.
func matrixJSON(n, p int) string {
	var b strings.Builder
	b.WriteString(`{"status":"success","data":{"resultType":"matrix","result":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"metric":{"__name__":"node_cpu_seconds_total","cpu":"%d","mode":"idle","instance":"host-%d:9100","job":"node"},"values":[`, i%64, i)
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

// BenchmarkRange1000Series measures a full range query of 1,000 series × 60 points over
// loopback: HTTP, JSON decoding and translation into detector series.
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

// BenchmarkTranslate1000Series measures only the translation of a decoded 1,000-series
// matrix into detector series.
func BenchmarkTranslate1000Series(b *testing.B) {
	m := make(model.Matrix, 1000)
	for i := range m {
		vals := make([]model.SamplePair, 60)
		for j := range vals {
			vals[j] = model.SamplePair{Timestamp: model.Time(1700000000000 + 15000*int64(j)), Value: model.SampleValue(i + j)}
		}
		m[i] = &model.SampleStream{Metric: model.Metric{"__name__": "node_cpu_seconds_total", "cpu": model.LabelValue(fmt.Sprint(i)), "mode": "idle", "job": "node"}, Values: vals}
	}
	b.ReportAllocs()
	for b.Loop() {
		s, _, err := translate(m)
		if err != nil || len(s) != 1000 {
			b.Fatalf("translate: %d series, %v", len(s), err)
		}
	}
}
