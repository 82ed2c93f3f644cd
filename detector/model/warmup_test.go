package model

import (
	"math"
	"testing"

	"github.com/smartcloudops/smartcloudops/detector"
)

// TestWarmupLeft checks, for every model kind, that WarmupLeft counts down by one per point
// learnt, ignores points that are not learnt, reaches 0 exactly when the model starts to score,
// and survives a save and restore; a trained model has none left.
func TestWarmupLeft(t *testing.T) {
	pts := synth(400, -1, 5)
	for name, m := range kinds(t) {
		t.Run(name, func(t *testing.T) {
			w, ok := m.(detector.WarmingUp)
			if !ok {
				t.Fatal("the model does not say how long it warms up")
			}
			left := w.WarmupLeft()
			if left < DefaultParams().Warmup {
				t.Fatalf("a fresh model has %d points left, want at least the warm-up %d", left, DefaultParams().Warmup)
			}
			i := 0
			for ; w.WarmupLeft() > 0; i++ {
				if w.WarmupLeft() == left/2 {
					data, _ := m.MarshalBinary()
					r, err := Load(data)
					if err != nil {
						t.Fatal(err)
					}
					if got := r.(detector.WarmingUp).WarmupLeft(); got != left/2 {
						t.Fatalf("restored with %d points left, want %d", got, left/2)
					}
				}
				if s := m.Observe(detector.Point{T: pts[i].T, V: math.NaN()}); s.Score != 0 || w.WarmupLeft() != left-i {
					t.Fatalf("a NaN point changed the warm-up left from %d to %d", left-i, w.WarmupLeft())
				}
				// A point far outside anything seen scores 0 while the model still learns.
				probe := cloneEngine(m.(*engine))
				if s := probe.Observe(detector.Point{T: pts[i].T, V: 1e6}); s.Score != 0 {
					t.Fatalf("%d points left: a far outlier scored %v", left-i, s.Score)
				}
				m.Observe(pts[i])
				if got := w.WarmupLeft(); got != left-i-1 {
					t.Fatalf("after %d points, %d left, want %d", i+1, got, left-i-1)
				}
			}
			if e := m.(*engine); e.useForest && !e.useStats && !e.forest.trees.fitted {
				t.Fatal("no points left, but the forest is not fitted")
			}
			if e := m.(*engine); e.useStats {
				if s := m.Observe(detector.Point{T: pts[i].T, V: 1e6}); s.Score < DefaultThreshold {
					t.Errorf("no points left, but a far outlier scored %v", s.Score)
				}
			}
		})
	}
	trained := Default()()
	Train(trained, synth(200, -1, 6))
	if got := trained.(detector.WarmingUp).WarmupLeft(); got != 0 {
		t.Errorf("a model trained on 200 points has %d left", got)
	}
}

// cloneEngine is a copy of e that learns apart from it.
func cloneEngine(e *engine) *engine {
	c := *e
	if e.forest != nil {
		f := *e.forest
		c.forest = &f
	}
	return &c
}
