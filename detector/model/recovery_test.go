package model

import (
	"math/rand/v2"
	"slices"
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

// TestFlatlineReturnIsNoNewAlarm checks that a series whose value was stuck for a day is reported
// as a flatline, and that the return of its ordinary noise is not reported as a departure from the
// baseline: while the value is stuck the baseline's scale shrinks, and that noise would otherwise
// score as a residual far larger than any before. (A chance record of another statistic may still
// fall in the same stretch; that is not what this checks.)
func TestFlatlineReturnIsNoNewAlarm(t *testing.T) {
	const stuckAt, backAt, n = 2000, 2288, 2388
	for seed := range uint64(5) {
		r := rand.New(rand.NewPCG(seed, 4))
		m := Default()()
		var stuck float64
		for i := range n {
			v := 30 + 5*r.NormFloat64()
			if i >= stuckAt && i < backAt {
				v = 31.5
			}
			s := m.Observe(detector.Point{T: t0.Add(time.Duration(i) * 5 * time.Minute), V: v})
			switch {
			case i >= stuckAt && i < backAt:
				stuck = max(stuck, s.Score)
			case i >= backAt && s.Score >= DefaultThreshold && slices.Contains(s.Models, PartRobust):
				t.Errorf("seed %d: ordinary noise %d points after the flatline scored %.2f %v", seed, i-backAt, s.Score, s.Models)
			}
		}
		if stuck < DefaultThreshold {
			t.Errorf("seed %d: the stuck value scored %.2f, want an alarm", seed, stuck)
		}
	}
}
