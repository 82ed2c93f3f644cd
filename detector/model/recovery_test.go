package model

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/smartcloudops/smartcloudops/detector"
)

// TestRecoveryIsNoNewAlarm checks that a series going back to its usual level after a long
// incident is not reported again: the drop is an anomaly, the return to normal is not, while a
// later real departure still is.
func TestRecoveryIsNoNewAlarm(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 1))
	m := newEngine(NameEnsemble, DefaultParams())
	const dropAt, backAt, spikeAt, n = 3000, 3150, 3600, 3700
	var drop, back, spike float64
	for i := range n {
		v := 92 + 2*r.NormFloat64()
		if i >= dropAt && i < backAt {
			v = 25 + 0.5*r.NormFloat64()
		}
		if i == spikeAt {
			v = 140
		}
		s := m.Observe(detector.Point{T: t0.Add(time.Duration(i) * 5 * time.Minute), V: v})
		switch {
		case i >= dropAt && i < dropAt+5:
			drop = max(drop, s.Score)
		case i >= backAt && i < backAt+50:
			back = max(back, s.Score)
		case i == spikeAt:
			spike = s.Score
		}
	}
	if drop < DefaultThreshold {
		t.Errorf("drop scored %.2f, want an alarm", drop)
	}
	if back >= DefaultThreshold {
		t.Errorf("return to the usual level scored %.2f, want no alarm", back)
	}
	if spike < DefaultThreshold {
		t.Errorf("spike after the recovery scored %.2f, want an alarm", spike)
	}
}
