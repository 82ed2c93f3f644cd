package rules

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/smartcloudops/smartcloudops/internal/store"
)

// BenchmarkCondition measures one evaluation of a typical condition.
func BenchmarkCondition(b *testing.B) {
	c, err := compileCondition(`value > 90 && labels.env == "prod"`, InputQuery)
	if err != nil {
		b.Fatal(err)
	}
	ev := newEvaluator()
	labels := map[string]string{"env": "prod", "asg": "web-asg", "instance": "i-1"}
	ev.env.Labels, ev.env.Now = labels, t0
	b.ReportAllocs()
	b.ResetTimer()
	hits := 0
	for i := 0; b.Loop(); i++ {
		ev.env.Value = float64(i % 100)
		ok, err := ev.run(c, nil)
		if err != nil {
			b.Fatal(err)
		}
		if ok {
			hits++
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "evals/s")
	if hits == 0 {
		b.Fatal("condition never held")
	}
}

// BenchmarkTick measures one tick of 1,000 query rules × 1,000 series each, with a memory
// store; 1% of the series satisfy the condition, so state writes happen (batched in one Txn).
func BenchmarkTick(b *testing.B) {
	const nRules, nSeries = 1000, 1000
	var sb strings.Builder
	sb.WriteString("groups:\n  - name: big\n    rules:\n")
	for i := 0; i < nRules; i++ {
		fmt.Fprintf(&sb, "      - name: r%d\n        query: q%d\n        when: value > 90 && labels.env == \"prod\"\n        for: 2m\n        action: {name: script, params: {script: a.sh, args: ['{{ .labels.instance }}']}}\n", i, i)
	}
	set := parseRules(b, sb.String())
	samples := make([]Sample, nSeries)
	for i := range samples {
		v := 50.0
		if i%100 == 0 {
			v = 95
		}
		samples[i] = Sample{Labels: map[string]string{"env": "prod", "instance": fmt.Sprintf("i-%04d", i), "job": "node"}, Value: v}
	}
	f := newFixture(b, store.NewMemory(), set)
	for i := 0; i < nRules; i++ {
		f.query[fmt.Sprintf("q%d", i)] = samples
	}
	ctx := context.Background()
	t := t0
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := f.e.EvalQueryGroup(ctx, "big", t); err != nil {
			b.Fatal(err)
		}
		t = t.Add(time.Minute)
	}
	b.ReportMetric(float64(nRules*nSeries)*float64(b.N)/b.Elapsed().Seconds(), "series/s")
}
