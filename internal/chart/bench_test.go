package chart

import "testing"

// Besides ns/op (wall time), the benchmarks report cpu-ns/op: the process
// CPU time per render. On a shared, busy machine wall time mostly measures
// the wait for a CPU; CPU time measures the work.

// BenchmarkRender1000 is the chart of a typical alert: 1,000 points with an
// expected line, a band and an anomalous span, at the default size.
func BenchmarkRender1000(b *testing.B) {
	benchRender(b, realistic(1000), Render)
}

// BenchmarkDraw1000 is BenchmarkRender1000 without PNG encoding, to show
// how the time splits between drawing and compression.
func BenchmarkDraw1000(b *testing.B) {
	benchRender(b, realistic(1000), func(s Series, o Options) ([]byte, error) {
		_, err := renderFrame(s, o)
		return nil, err
	})
}

// BenchmarkRender100k shows that reduction bounds the cost of long series.
func BenchmarkRender100k(b *testing.B) {
	benchRender(b, realistic(100_000), Render)
}

func benchRender(b *testing.B, s Series, render func(Series, Options) ([]byte, error)) {
	b.ReportAllocs()
	cpu0, ok := processCPU()
	for b.Loop() {
		if _, err := render(s, Options{}); err != nil {
			b.Fatal(err)
		}
	}
	if cpu1, ok1 := processCPU(); ok && ok1 && b.N > 0 {
		b.ReportMetric(float64((cpu1-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}
