package model

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/smartcloudops/smartcloudops/detector"
)

// spikes is a noisy flat series with the given value added at the given rows.
func spikes(n int, seed uint64, add map[int]float64) []detector.Point {
	r := rand.New(rand.NewPCG(seed, 3))
	pts := make([]detector.Point, n)
	for i := range pts {
		pts[i] = detector.Point{T: t0.Add(time.Duration(i) * 5 * time.Minute), V: 10 + r.NormFloat64() + add[i]}
	}
	return pts
}

// TestSecondIncident checks that a second incident, half the size of a first one but far beyond
// anything else the series has done, is still reported: the range of ordinary values must not
// have taken in the first incident.
func TestSecondIncident(t *testing.T) {
	for seed := range uint64(5) {
		got := detections(spikes(3000, seed, map[int]float64{1000: 60, 2000: 30}))
		var first, second bool
		for _, i := range got {
			// An incident alarm may begin a point early, on a chance record of the noise.
			first = first || (i >= 995 && i <= 1000)
			second = second || (i >= 1995 && i <= 2000)
		}
		if !first || !second {
			t.Errorf("seed %d: incidents at 1000 and 2000, detections %v", seed, got)
		}
	}
}

// TestRecurringAfterIncident checks that an excursion which keeps recurring after a first
// incident costs at most one extra alarm: after that it is ordinary for the series.
func TestRecurringAfterIncident(t *testing.T) {
	for seed := range uint64(5) {
		add := map[int]float64{1000: 60}
		r := rand.New(rand.NewPCG(seed, 4))
		for i := 1500; i < 4000; i += 150 {
			add[i] = 30 + 4*r.Float64() // a routine job that starts after the incident
		}
		got := detections(spikes(4000, seed, add))
		late := 0
		for _, i := range got {
			if i >= 1000 {
				late++
			}
		}
		if late > 2 {
			t.Errorf("seed %d: %d alarms from 1000 on, want the incident and at most one more; detections %v", seed, late, got)
		}
	}
}
