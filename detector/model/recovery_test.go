package model

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/smartcloudops/smartcloudops/detector"
)

// TestRecoveryInsideOnsetBand checks what the incident stage relies on after a long incident:
// the drop is an anomaly, the band reported with its first alarm holds the usual level, so the
// values of the return to normal lie inside that band (the incident resolves there, whatever the
// return scores), and a later real departure is still an alarm.
func TestRecoveryInsideOnsetBand(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 1))
	m := Default()()
	const dropAt, backAt, spikeAt, n = 3000, 3150, 3600, 3700
	var onset *detector.Score
	var spike float64
	outside := 0
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
		case i >= dropAt && i < dropAt+5 && onset == nil && s.Score >= DefaultThreshold:
			onset = &s
		case i >= backAt && i < backAt+50 && onset != nil && (v < onset.Lower || v > onset.Upper):
			outside++
		case i == spikeAt:
			spike = s.Score
		}
	}
	if onset == nil {
		t.Fatal("the drop raised no alarm in its first five points")
	}
	if onset.Lower > 85 || onset.Upper < 99 {
		t.Errorf("band at the drop's onset [%.1f, %.1f] does not hold the usual level 92 ± 7", onset.Lower, onset.Upper)
	}
	if outside > 1 {
		t.Errorf("%d of the 50 returned values lie outside the onset's band [%.1f, %.1f]", outside, onset.Lower, onset.Upper)
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
