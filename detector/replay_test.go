package detector_test

import (
	"context"
	"math"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smartcloudops/smartcloudops/detector"
	"github.com/smartcloudops/smartcloudops/internal/config"
	"github.com/smartcloudops/smartcloudops/internal/obs"
)

// scriptModel scores the i-th point it sees with scores[i], in a band wide enough that no value
// lies outside it, so only the score opens and ends episodes.
type scriptModel struct {
	scores []float64
	n      int
}

func (m *scriptModel) Name() string { return "script" }
func (m *scriptModel) Observe(p detector.Point) detector.Score {
	s := m.scores[m.n%len(m.scores)]
	m.n++
	return detector.Score{Score: s, Expected: p.V, Lower: p.V - 1e6, Upper: p.V + 1e6, Models: []string{"script"}}
}
func (m *scriptModel) MarshalBinary() ([]byte, error) { return nil, nil }
func (m *scriptModel) UnmarshalBinary([]byte) error   { return nil }

// TestHistoryReplaysAtTheThreshold: the history keeps scores to 1/65,535, but a point scored at
// or above the check's threshold is kept at or above it and one below is kept below, however
// close to it, so replaying the history (as `rules test` does) opens and ends the episodes the
// live check did.
func TestHistoryReplaysAtTheThreshold(t *testing.T) {
	// 0.61 is 39,976.35 65,535ths: the nearest kept score is below it; 0.99 is 64,879.65: a
	// score just below it is nearest to one above; 0.7 is 45,874.5.
	for _, thr := range []float64{0.61, 0.99, 0.7} {
		replayAt(t, thr)
	}
}

func replayAt(t *testing.T, thr float64) {
	t.Helper()
	var scores []float64
	for _, s := range []float64{thr, math.Nextafter(thr, 0), thr + 1e-12, thr - 4e-6, thr + 4e-6, thr - 7e-6} {
		scores = append(scores, s)
		for range detector.DefaultResolveAfter {
			scores = append(scores, 0.1) // ends an episode the point above opened
		}
	}
	src := &queue{batches: [][]detector.Series{hostA(flat(0, len(scores), 40))}}
	sched, _ := config.ParseSchedule("@every 1m")
	d, err := detector.New(detector.Options{
		Checks: []detector.CheckSpec{{Name: "cpu", Source: src, Schedule: sched, Threshold: thr,
			Factory: func() detector.Model { return &scriptModel{scores: scores} }}},
		Logger: obs.Discard(), Registerer: prometheus.NewRegistry(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Tick(context.Background(), "cpu"); err != nil {
		t.Fatal(err)
	}
	pts, _ := d.SeriesPoints("cpu", map[string]string{"host": "a"})
	if len(pts) != len(scores) {
		t.Fatalf("%d points kept, want %d", len(pts), len(scores))
	}
	life := detector.Lifecycle{Threshold: thr}
	var live, replay detector.Episode
	opened := 0
	for i, p := range pts {
		if (p.Score >= thr) != (scores[i] >= thr) {
			t.Fatalf("point %d scored %v live against %v, kept as %v", i, scores[i], thr, p.Score)
		}
		exact := p
		exact.Score = scores[i]
		want, got := life.Step(&live, exact, nil), life.Step(&replay, p, nil)
		if got != want {
			t.Fatalf("threshold %v, point %d: the replay stepped %v, the live check %v", thr, i, got, want)
		}
		if want == detector.StepOpened {
			opened++
		}
	}
	if opened != 3 {
		t.Fatalf("threshold %v: %d episodes opened, want 3", thr, opened)
	}
}
