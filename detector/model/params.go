package model

import (
	"errors"
	"fmt"
)

// DefaultThreshold is the single anomaly-score threshold that ships: Score ≥ DefaultThreshold is
// an anomaly. At 0.5 a statistic lies beyond the range it has covered on this series by
// Params.Margin range widths (for the forest, a tail probability of 10^-5). The threshold stays
// fixed; the cross-validation of `detect eval --cv` chooses the margin for it, which sets the same
// trade-off, among Candidates, and chose DefaultParams' margin in every fold
// (reports/detector-cv.md).
const DefaultThreshold = 0.5

// Params is one parameter set for the models. DefaultParams returns the set that ships; fields
// are exported so the evaluation can document them, not so they can be tuned per series.
type Params struct {
	// Warmup is the number of points learnt before any score is non-zero.
	Warmup int
	// LevelRate, TrendRate, DayRate and WeekRate are the online learning rates of the baseline's
	// level, trend, time-of-day profile and hour-of-week profile.
	LevelRate, TrendRate, DayRate, WeekRate float64
	// TrendDamping multiplies the trend at each step (0 disables the trend).
	TrendDamping float64
	// ScaleRate and SlowScaleRate are the rates of the fast and slow mean absolute residual;
	// SlowScaleRate also drives the slow mean absolute step that floors the flatline statistic.
	ScaleRate, SlowScaleRate float64
	// Clip bounds residuals to ±Clip scales before they update the baseline.
	Clip float64
	// ShiftRate is the rate of the short-term mean of the values that detects level shifts and of
	// the short-term mean absolute step that detects flatlines; the slow mean that detects
	// gradual shifts runs at a fifth of it.
	ShiftRate float64
	// RangeRate is the rate at which each tracked range sinks back toward the recent centre when
	// no new extreme renews it (about 1/points remembered).
	RangeRate float64
	// Margin is the excess beyond a tracked range, in range widths, that scores 0.5.
	Margin float64
	// TailRate is the forgetting rate of the forest's tail calibrator (about 1/points remembered).
	TailRate float64
	// Trees, and Refit (points between refits) configure the isolation forest; Stride keeps one
	// feature vector in Stride for its history sample.
	Trees, Refit, Stride int
	// Band is the half-width of the normal band in robust standard deviations.
	Band float64
}

// DefaultParams returns the parameter set that ships with SmartCloudOps.
func DefaultParams() Params {
	return Params{
		Warmup:        64,
		LevelRate:     0.08,
		TrendRate:     0.002,
		DayRate:       0.25,
		WeekRate:      0.15,
		TrendDamping:  0.98,
		ScaleRate:     0.02,
		SlowScaleRate: 0.002,
		Clip:          3,
		ShiftRate:     0.15,
		RangeRate:     1.0 / 10000,
		Margin:        0.15,
		TailRate:      1.0 / 2000,
		Trees:         maxTrees,
		Refit:         64,
		Stride:        4,
		Band:          4,
	}
}

// Validate reports every out-of-range field at once.
func (p Params) Validate() error {
	var errs []error
	rate := func(name string, v float64) {
		if !(v > 0 && v < 1) {
			errs = append(errs, fmt.Errorf("%s %v must be in (0,1)", name, v))
		}
	}
	rate("LevelRate", p.LevelRate)
	rate("TrendRate", p.TrendRate)
	rate("DayRate", p.DayRate)
	rate("WeekRate", p.WeekRate)
	rate("ScaleRate", p.ScaleRate)
	rate("SlowScaleRate", p.SlowScaleRate)
	rate("ShiftRate", p.ShiftRate)
	rate("TailRate", p.TailRate)
	rate("RangeRate", p.RangeRate)
	if !(p.Margin > 0 && p.Margin < 1e6) {
		errs = append(errs, fmt.Errorf("Margin %v must be in (0, 1e6)", p.Margin))
	}
	if !(p.TrendDamping >= 0 && p.TrendDamping < 1) {
		errs = append(errs, fmt.Errorf("TrendDamping %v must be in [0,1)", p.TrendDamping))
	}
	if p.Warmup < 1 || p.Warmup > 1<<20 {
		errs = append(errs, fmt.Errorf("Warmup %d must be in [1, 2^20]", p.Warmup))
	}
	if !(p.Clip > 0) {
		errs = append(errs, fmt.Errorf("Clip %v must be positive", p.Clip))
	}
	if p.Trees < 1 || p.Trees > maxTrees {
		errs = append(errs, fmt.Errorf("Trees %d must be in [1,%d]", p.Trees, maxTrees))
	}
	if p.Refit < 1 || p.Stride < 1 {
		errs = append(errs, fmt.Errorf("Refit %d and Stride %d must be positive", p.Refit, p.Stride))
	}
	if !(p.Band > 0) {
		errs = append(errs, fmt.Errorf("Band %v must be positive", p.Band))
	}
	if len(errs) > 0 {
		return fmt.Errorf("model params: %w", errors.Join(errs...))
	}
	return nil
}

// Candidate is one parameter set that the cross-validation of `smartcloudops detect eval --cv`
// may choose.
type Candidate struct {
	Name   string
	Params Params
}

// Candidates returns the cross-validation's search space: DefaultParams with the two constants
// that set how much history counts, the margin and the range's memory, at a few values each. The
// threshold is not among them: it stays DefaultThreshold. DefaultParams is the first candidate,
// so ties keep it.
func Candidates() []Candidate {
	base := DefaultParams()
	out := []Candidate{{Name: candidateName(base), Params: base}}
	for _, m := range []float64{0.1, 0.125, 0.15, 0.2} {
		for _, mem := range []float64{3000, 10000} {
			p := base
			p.Margin, p.RangeRate = m, 1/mem
			if p != base {
				out = append(out, Candidate{Name: candidateName(p), Params: p})
			}
		}
	}
	return out
}

func candidateName(p Params) string {
	return fmt.Sprintf("margin %g, memory %.0f", p.Margin, 1/p.RangeRate)
}
