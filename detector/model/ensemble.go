package model

import (
	"math"

	"github.com/smartcloudops/smartcloudops/detector"
)

// Part names reported in detector.Score.Models.
const (
	PartLevel  = "level"  // a value beyond the range the series has covered
	PartShift  = "shift"  // a short-term mean beyond the range it has covered: a level shift
	PartRobust = "robust" // a departure from the seasonal baseline larger than any recent one
	PartDrift  = "drift"  // a slow mean beyond the range it has covered: a gradual shift
	PartRatio  = "ratio"  // a value beyond the range on a logarithmic scale: a change by a factor
	PartFlat   = "flat"   // a local variability below its range: a flatline or stuck value
	PartJump   = "jump"   // a step from the previous value beyond the steps the series has made
	PartForest = "forest" // a window of features the isolation forest isolates quickly
)

// Model names, saved in the state header.
const (
	NameRobust   = "robust"
	NameForest   = "forest"
	NameEnsemble = "ensemble"
)

// Indexes of the statistics whose range the engine tracks, in the order of partNames.
const (
	statLevel  = iota // the value
	statShift         // short-term mean of the values
	statRobust        // residual from the seasonal baseline, in robust scales
	statDrift         // slow mean of the values
	statRatio         // logarithm of the value
	statFlat          // logarithm of the local variability
	statJump          // step from the previous value
	stats             // number of statistics
)

var partNames = [stats + 1]string{PartLevel, PartShift, PartRobust, PartDrift, PartRatio, PartFlat, PartJump, PartForest}

// statInfo says how each statistic is judged. A smoothed statistic creeps toward a new level over
// several points and would renew its own range at every step, so it is judged against a snapshot
// of its range taken every lagPoints points (lagged). A statistic that depends on the baseline or
// on the means, and the step, whose noise floor is a slow mean, start their ranges only after
// the warm-up, when those start-up transients have passed (afterWarmup). Local variability
// counts only when it falls below its range (lowOnly): bursts of noise already show in the
// value, the step and the residual.
var statInfo = [stats]struct{ lagged, afterWarmup, lowOnly bool }{
	statLevel:  {},
	statShift:  {lagged: true, afterWarmup: true},
	statRobust: {afterWarmup: true},
	statDrift:  {lagged: true, afterWarmup: true},
	statRatio:  {},
	statFlat:   {lagged: true, afterWarmup: true, lowOnly: true},
	statJump:   {afterWarmup: true},
}

const (
	// lagPoints is the spacing of the range snapshots smoothed statistics are judged against.
	lagPoints = 16
	// driftShare is the drift mean's rate as a share of ShiftRate.
	driftShare = 0.2
	// matureSamples is how many independent values a mean's range must have seen before it is
	// judged.
	matureSamples = 16
	// scaleFloor is the least residual scale, as a share of the value range, so on a flat or
	// quantised stretch a routine blip is not an enormous z-score.
	scaleFloor = 0.03
	// logOffset is the share of the value range added before taking logarithms, so zeros stay
	// finite.
	logOffset = 0.01
	// flatOffset is the share of the slow mean absolute step added to the short-term one before
	// taking its logarithm: a series going flat falls about log(1/flatOffset) below its usual
	// variability, while the long runs of equal values of a quantised series cannot fall
	// further than that and soon stop being new.
	flatOffset = 0.1
	// matureAge is the number of independent values after which a range is judged with
	// Params.Margin alone (see margin).
	matureAge = 300
	// noiseZ is the residual, in robust standard deviations, that the seasonal departure must
	// exceed before its range is judged: Gaussian noise reaches it about once in 2,000 points.
	noiseZ = 3.5
	// jumpZ is the step from the previous value, in slow mean absolute steps, that a step must
	// exceed before its range is judged. For Gaussian noise that is four standard deviations of
	// the steps, reached about once in 15,000 points. (6 did as well on the synthetic families;
	// 5 caught one more labelled window on NAB's development set.)
	jumpZ = 5
	// backShare is the short-term mean absolute step, as a share of the slow one, at which the
	// variability counts as back after a flatline (see flatlineHeld).
	backShare = 0.5
	// recoveryShare is the share of the value range by which both the slow mean and the forecast
	// must still differ from the level before the latest alarm for a move back toward that level
	// to count as a recovery rather than a seasonal departure (see recovering).
	recoveryShare = 0.2
	// preMargin multiplies the margin of a statistic's pre-alarm range, which leaves out the
	// excursions that alarmed: a second incident must lie clearly beyond it.
	preMargin = 3
	// recurShare is how far, as a share of the distance an excluded excursion reached beyond the
	// pre-alarm range, a later value must reach to count as that excursion recurring.
	recurShare = 0.75
	// maxValue bounds the magnitude of values the models learn from, so sums of squares and
	// differences stay finite.
	maxValue = 1e150
)

// engine implements the three models; useStats and useForest select the parts that vote.
type engine struct {
	name      string
	p         Params
	useStats  bool
	useForest bool

	base       baseline
	smooth     float64 // short-term exponential mean of the values
	drift      float64 // slower exponential mean of the values
	vol        float64 // short-term mean absolute step
	calm       float64 // slow mean absolute step
	ext        [stats]extreme
	lagged     [stats]extreme // snapshot of ext, for the smoothed statistics
	pre        [stats]extreme // ranges learnt without the values of alarmed excursions
	preLagged  [stats]extreme // snapshot of pre, for the smoothed statistics
	pend       [stats]extreme // how far the excursions left out of pre reached, not yet admitted
	pendSides  uint16         // bit 2i: pend[i].hi is pending; bit 2i+1: pend[i].lo is pending
	pendBack   uint8          // bit i: statistic i came back inside pre after its excursion
	quietMain  bool           // the quiet period was begun by the main ranges, not by pre alone
	anchor     float64        // slow mean just before the latest alarm began
	recovery   uint8          // whether a return toward anchor is a recovery (recovery* constants)
	heldScale  float64        // the residual scale before the latest flatline, while it matters
	forestTail tail
	trees      forest
	quiet      uint32  // points left in the refractory period
	quietPeak  float32 // the score that started it
	sinceFit   uint32
	strideAt   uint32
}

func newEngine(name string, p Params) *engine {
	e := &engine{name: name, p: p}
	switch name {
	case NameRobust:
		e.useStats = true
	case NameForest:
		e.useForest = true
	default:
		e.useStats, e.useForest = true, true
	}
	return e
}

// NewRobust returns the range-tracking model over the value, its means, its logarithm, its local
// variability and its residual from the seasonal baseline. p must pass Validate; use
// DefaultParams.
func NewRobust(p Params) (detector.Model, error) { return newChecked(NameRobust, p) }

// NewForest returns the isolation-forest model over the baseline's window features.
func NewForest(p Params) (detector.Model, error) { return newChecked(NameForest, p) }

// NewEnsemble returns the combined model: the robust parts, with the forest able to raise a
// score they already lean toward.
func NewEnsemble(p Params) (detector.Model, error) { return newChecked(NameEnsemble, p) }

// logMatureAge is log(matureAge), cached.
var logMatureAge = math.Log(matureAge)

// breakthrough is the score that ends a quiet period early when it beats the score that began it.
const breakthrough = 0.9

func newChecked(name string, p Params) (detector.Model, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return newEngine(name, p), nil
}

// Default returns the factory that ships: the ensemble with DefaultParams. Pair it with
// DefaultThreshold.
func Default() detector.Factory {
	p := DefaultParams()
	return func() detector.Model { return newEngine(NameEnsemble, p) }
}

// Name implements detector.Model.
func (e *engine) Name() string { return e.name }

// ready is the number of points after which statistic i is judged: the warm-up, and for a mean
// the time its range needs to see matureSamples independent values, one per time constant.
func (e *engine) ready(i int) int {
	var rate float64
	switch i {
	case statShift, statFlat:
		rate = e.p.ShiftRate
	case statDrift:
		rate = e.p.ShiftRate * driftShare
	default:
		if statInfo[i].afterWarmup {
			// Its range starts only when the warm-up ends; judging the next point against a
			// range of one value would alarm on every new series.
			return 2 * e.p.Warmup
		}
		return e.p.Warmup
	}
	return e.p.Warmup + int(matureSamples/rate)
}

// margin is the excess, in range widths, at which statistic i scores 0.5 once n points have been
// learnt. A young range is still widening, so chance records come often and by wide margins: for
// a statistic with Gaussian tails, a range of k independent values is renewed at a rate of about
// 1/k, and by an excess that is roughly exponential with mean 1/(4 ln k) widths, so records of
// excess m widths come at a rate of about k^−(1+4m). Until the range has seen matureAge values the
// margin is raised so that this rate stays at what a mature range sees at Params.Margin; after
// that it is Params.Margin. The values a mean's range has seen are counted in time constants.
func (e *engine) margin(i, n int) float64 {
	k := float64(n)
	if statInfo[i].afterWarmup {
		k -= float64(e.p.Warmup)
	}
	switch i {
	case statShift, statFlat:
		k *= e.p.ShiftRate
	case statDrift:
		k *= e.p.ShiftRate * driftShare
	}
	k = max(k, 2)
	if k >= matureAge {
		return e.p.Margin
	}
	return ((1+4*e.p.Margin)*logMatureAge/math.Log(k) - 1) / 4
}

// logOf maps a non-negative quantity onto a logarithmic scale, offset by a small share of the
// value range.
func (e *engine) logOf(x float64) float64 {
	return math.Log(max(x, 0) + logOffset*e.ext[statLevel].width())
}

// Observe implements detector.Model: it scores pt from the state, then learns from it. Values that
// are NaN, infinite or beyond ±1e150 get a zero score and are not learnt.
func (e *engine) Observe(pt detector.Point) detector.Score {
	f := e.base.predict(pt.T, &e.p)
	band := e.p.Band * f.scale
	s := detector.Score{Expected: f.expected, Lower: f.expected - band, Upper: f.expected + band}
	if !detector.Valid(pt.V) || math.Abs(pt.V) > maxValue {
		return s
	}
	x := pt.V
	if e.base.n == 0 {
		s.Expected, s.Lower, s.Upper = x, x, x
		e.base.learn(pt.T, x, f, &e.p)
		e.smooth, e.drift = x, x
		e.ext[statLevel].start(x)
		e.ext[statRatio].start(e.logOf(x))
		e.pre = e.ext
		return s
	}
	z := (x - f.expected) / max(f.scale, e.heldScale, scaleFloor*e.ext[statLevel].width())
	smooth := e.smooth + e.p.ShiftRate*(x-e.smooth)
	drift := e.drift + e.p.ShiftRate*driftShare*(x-e.drift)
	jump := x - e.base.prev
	vol := e.vol + e.p.ShiftRate*(math.Abs(jump)-e.vol)
	var cur, centre [stats]float64
	cur[statLevel], centre[statLevel] = x, smooth
	cur[statShift], centre[statShift] = smooth, smooth
	cur[statRobust] = clip(z, 1e6)
	cur[statDrift], centre[statDrift] = drift, drift
	cur[statRatio], centre[statRatio] = e.logOf(x), e.logOf(smooth)
	calm := e.calm
	if !e.flatlineHeld() {
		// While a flatline holds the residual scale, the slow mean step is held too, or the
		// steps of the noise that resumes would look large for hundreds of points.
		calm += e.p.SlowScaleRate * (math.Abs(jump) - e.calm)
	}
	cur[statFlat] = math.Log(vol + flatOffset*calm + 1e-300)
	centre[statFlat] = cur[statFlat]
	cur[statJump] = jump

	var fx [features]int16
	fx[0] = quantise(z)
	fx[1] = quantise((smooth - f.expected) / f.scale)
	fx[2] = quantise(math.Log2((vol + 1e-12) / (f.scale + 1e-12)))
	fx[3] = quantise(jump / f.scale)

	n := int(e.base.n)
	forestStat := 0.0
	if e.useForest && e.trees.fitted {
		forestStat = math.Exp(12 * (e.trees.score(&fx, e.p.Trees) - 0.5))
	}
	excluded := false
	if n >= e.p.Warmup {
		var part [stats + 1]float64
		stat, statMain := 0.0, 0.0
		if e.useStats {
			for i, v := range cur {
				if n < e.ready(i) {
					continue
				}
				ref, pre := &e.ext[i], &e.pre[i]
				if statInfo[i].lagged {
					ref, pre = &e.lagged[i], &e.preLagged[i]
				}
				m := e.margin(i, n)
				if ex := e.excessOf(i, ref, v, x, f.expected); ex > 0 {
					part[i] = 1 - math.Exp2(-ex/m)
				}
				statMain = max(statMain, part[i])
				if part[i] < e.p.Alarm && (e.quiet == 0 || !e.quietMain) {
					// Outside the quiet period of an alarm on the main ranges, the pre-alarm
					// range judges too, once it has taken in what recurs (see admit).
					e.admit(i, pre, v)
					if ex := e.excessOf(i, pre, v, x, f.expected); ex > 0 {
						part[i] = max(part[i], 1-math.Exp2(-ex/(preMargin*m)))
					}
				}
				stat = max(stat, part[i])
			}
		}
		if e.useForest && e.trees.fitted {
			part[stats] = scoreOf(e.forestTail.prob(forestStat))
		}
		s.Score = e.combine(stat, part[stats])
		mainAlarm := e.combine(statMain, part[stats]) >= e.p.Alarm
		for i, name := range partNames {
			if part[i] >= e.p.Alarm {
				s.Models = append(s.Models, name)
			}
		}
		// The values of an excursion that alarmed on the main ranges are left out of the
		// pre-alarm ranges: those of the point that began the quiet period and of the period.
		excluded = e.quiet > 0 && e.quietMain
		switch {
		case e.quiet > 0 && s.Score >= breakthrough && s.Score > float64(e.quietPeak):
			// A much stronger anomaly during the quiet period is reported, and restarts it: a
			// marginal alarm must never hide a real incident right after it.
			e.quiet, e.quietPeak = uint32(e.p.Refractory), float32(s.Score)
			e.quietMain = e.quietMain || mainAlarm
		case e.quiet > 0:
			e.quiet--
			s.Score = min(s.Score, math.Nextafter(e.p.Alarm, 0))
		case s.Score >= e.p.Alarm:
			if part[statFlat] >= e.p.Alarm {
				// While the value is stuck the baseline's scale shrinks toward nothing, and the
				// first ordinary noise after it would look like a departure: residuals are
				// judged on the scale from before the flatline until the variability is back.
				e.heldScale = max(e.heldScale, f.scale)
			}
			e.quiet, e.quietPeak = uint32(e.p.Refractory), float32(s.Score)
			e.quietMain = mainAlarm
			e.anchor, e.recovery = e.drift, recoveryArmed
			if !mainAlarm {
				// A second incident has been reported: what the earlier excursions reached is
				// normal from now on, so each excluded excursion costs at most one extra alarm.
				for i := range stats {
					e.admitPending(i)
				}
			}
		}
		excluded = excluded || (e.quiet > 0 && e.quietMain)
	}

	// Learn.
	e.base.learn(pt.T, x, f, &e.p)
	n++
	for i, v := range cur {
		switch {
		case !statInfo[i].afterWarmup || n > e.p.Warmup:
			e.ext[i].learn(v, centre[i], e.p.RangeRate)
			e.learnPre(i, n, v, centre[i], excluded)
		case n == e.p.Warmup:
			e.ext[i].start(v)
			e.pre[i].start(v)
		}
	}
	if n%lagPoints == 0 || n == e.p.Warmup {
		e.lagged = e.ext
		e.preLagged = e.pre
	}
	e.smooth, e.drift, e.vol, e.calm = smooth, drift, vol, calm
	e.trackRecovery()
	if e.heldScale > 0 && !e.flatlineHeld() {
		// The variability is back: let go slowly, at the slow scale's rate, while the
		// baseline's own scale regrows; once it has caught up the held scale is dropped.
		e.heldScale *= 1 - e.p.SlowScaleRate
		if e.heldScale < f.scale {
			e.heldScale = 0
		}
	}
	if e.useForest {
		if e.trees.fitted {
			e.forestTail.add(forestStat, e.p.TailRate)
		}
		e.strideAt++
		if e.strideAt >= uint32(e.p.Stride) {
			e.strideAt = 0
			e.trees.add(&fx)
		}
		e.sinceFit++
		if e.sinceFit >= uint32(e.p.Refit) && e.trees.ringN >= treeSample {
			e.sinceFit = 0
			e.trees.fit(e.p.Trees, uint64(e.base.n))
		}
	}
	return s
}

// combine merges the statistical score with the forest's, which raises it only when a statistic
// already leans toward an anomaly and the forest alone would alarm, so its false alarms on
// ordinary windows never page anyone.
func (e *engine) combine(stat, forest float64) float64 {
	switch {
	case !e.useStats:
		return forest
	case e.useForest && e.trees.fitted && stat >= e.p.Agree && forest >= e.p.Alarm:
		return max(stat, (stat+forest)/2)
	default:
		return stat
	}
}

// excessOf is how far v, the current value of statistic i, lies beyond ref, in widths of ref.
func (e *engine) excessOf(i int, ref *extreme, v, x, expected float64) float64 {
	switch {
	case statInfo[i].lowOnly:
		if v >= ref.lo {
			return 0
		}
		return ref.excess(v)
	case i == statRobust:
		// A residual that ordinary noise produces now and then is no anomaly, even when the
		// residuals so far have been smaller; nor is the residual a recovery leaves.
		if e.recovering(x, expected) {
			return 0
		}
		return ref.excessOutside(v, noiseZ)
	case i == statJump:
		// Likewise a step within what noise produces, and the step back to normal.
		if (v <= ref.hi && v >= ref.lo) || e.stepBack(x) {
			return 0
		}
		return ref.excessOutside(v, jumpZ*e.calmNow())
	}
	return ref.excess(v)
}

// flatlineHeld reports whether a flatline still holds the residual scale: one has alarmed and
// the short-term mean step is still below backShare of the slow one.
func (e *engine) flatlineHeld() bool {
	return e.heldScale > 0 && e.vol < backShare*e.calm
}

// calmNow is the slow mean absolute step, corrected for its start from zero.
func (e *engine) calmNow() float64 {
	w := -math.Expm1(float64(e.base.n) * math.Log1p(-e.p.SlowScaleRate))
	return e.calm / max(w, 1e-9)
}

// admit takes statistic i's pending excursions into its pre-alarm range, before v is judged on
// it, when they no longer set an incident apart: when the excursion never came back inside the
// pre-alarm range (a new level that outlasted the quiet period, not a transient), or when v
// recurs on the pending side, beyond the pre-alarm range ref by at least recurShare of the
// distance the pending excursion reached. A recurring excursion of about the same size is
// ordinary for the series; a clearly smaller one is judged as a second incident.
func (e *engine) admit(i int, ref *extreme, v float64) {
	if e.pendSides&(3<<(2*i)) == 0 {
		return
	}
	if e.pendBack&(1<<i) == 0 {
		e.admitPending(i)
		return
	}
	if e.pendSides&(1<<(2*i)) != 0 && v > ref.hi && v-ref.hi >= recurShare*(e.pend[i].hi-ref.hi) {
		e.admitSide(i, true)
	}
	if e.pendSides&(1<<(2*i+1)) != 0 && v < ref.lo && ref.lo-v >= recurShare*(ref.lo-e.pend[i].lo) {
		e.admitSide(i, false)
	}
}

// admitPending takes all of statistic i's pending excursions into its pre-alarm range.
func (e *engine) admitPending(i int) {
	if e.pendSides&(1<<(2*i)) != 0 {
		e.admitSide(i, true)
	}
	if e.pendSides&(1<<(2*i+1)) != 0 {
		e.admitSide(i, false)
	}
	e.pendBack |= 1 << i
}

// admitSide widens statistic i's pre-alarm range (and its snapshot) to the pending extent on
// one side, no further than the main range still reaches, and clears that side.
func (e *engine) admitSide(i int, high bool) {
	if high {
		h := min(e.pend[i].hi, e.ext[i].hi)
		e.pre[i].hi = max(e.pre[i].hi, h)
		e.preLagged[i].hi = max(e.preLagged[i].hi, h)
		e.pendSides &^= 1 << (2 * i)
		return
	}
	l := max(e.pend[i].lo, e.ext[i].lo)
	e.pre[i].lo = min(e.pre[i].lo, l)
	e.preLagged[i].lo = min(e.preLagged[i].lo, l)
	e.pendSides &^= 1 << (2*i + 1)
}

// learnPre updates statistic i's pre-alarm range with v once n points have been learnt. Until
// the statistic is judged the range follows the main one, so a series' start-up excludes
// nothing. A value of an excursion that alarmed on the main ranges (excluded) does not widen
// it: what lies beyond it is kept as pending, and the range still sinks toward the centre.
func (e *engine) learnPre(i, n int, v, centre float64, excluded bool) {
	x := &e.pre[i]
	switch {
	case n < e.ready(i):
		*x = e.ext[i]
		e.pendSides &^= 3 << (2 * i)
		return
	case !excluded:
		x.learn(v, centre, e.p.RangeRate)
		return
	case v > x.hi:
		if e.pendSides&(1<<(2*i)) == 0 || v > e.pend[i].hi {
			e.pend[i].hi = v
		}
		e.pendSides |= 1 << (2 * i)
		e.pendBack &^= 1 << i
	case v < x.lo:
		if e.pendSides&(1<<(2*i+1)) == 0 || v < e.pend[i].lo {
			e.pend[i].lo = v
		}
		e.pendSides |= 1 << (2*i + 1)
		e.pendBack &^= 1 << i
	default:
		e.pendBack |= 1 << i
	}
	x.learn(max(x.lo, min(x.hi, v)), centre, e.p.RangeRate)
}

// Recovery states: whether the series is away from the level it had before its latest alarm
// (anchor), so that a return toward that level is the incident ending rather than a departure.
const (
	recoveryNone  = iota // no alarm, or the series has been back since the latest one
	recoveryArmed        // an alarm began; the slow mean has not yet left the level
	recoveryAway         // the slow mean left the level and has not come back
)

// trackRecovery moves the recovery state on after the slow mean has been updated: an armed
// alarm becomes away once the slow mean lies recoveryShare of the value range from the anchor,
// and is dropped if the quiet period ends before that; away ends when the slow mean comes back
// within that distance, so an old anchor never makes a later departure look like a recovery.
func (e *engine) trackRecovery() {
	if e.recovery == recoveryNone {
		return
	}
	far := math.Abs(e.drift-e.anchor) >= recoveryShare*e.ext[statLevel].width()
	switch {
	case e.recovery == recoveryArmed && far:
		e.recovery = recoveryAway
	case e.recovery == recoveryArmed && e.quiet == 0, e.recovery == recoveryAway && !far:
		e.recovery = recoveryNone
	}
}

// recovering reports whether x is a return toward the level the series had before its latest
// alarm, while the series is still away from it: the slow mean has left that level since the
// alarm and has not come back, the forecast differs from it by at least recoveryShare of the
// value range, and x lies on that level's side of the forecast, no further from it than the
// forecast is. During a long incident the baseline learns the incident's values, so the end of
// the incident is a large residual; it is the series going back to normal, not a new departure,
// and the seasonal part does not score it. The level, shift and ratio parts still judge such a
// point on their own ranges.
func (e *engine) recovering(x, expected float64) bool {
	if e.recovery != recoveryAway {
		return false
	}
	d := e.anchor - expected
	if math.Abs(d) < recoveryShare*e.ext[statLevel].width() {
		return false // the forecast is near the pre-alarm level
	}
	return (x-expected)*d > 0 && math.Abs(x-e.anchor) <= math.Abs(d)
}

// stepBack reports whether x is a step back toward the level the series had before its latest
// alarm, while the series is still away from it, from a previous value also away by at least
// recoveryShare of the value range, covering at least half the distance: the end of an incident
// that lasted, not a new departure.
func (e *engine) stepBack(x float64) bool {
	if e.recovery != recoveryAway {
		return false
	}
	away := math.Abs(e.base.prev - e.anchor)
	return away >= recoveryShare*e.ext[statLevel].width() && math.Abs(x-e.anchor) <= away/2
}

// scoreOf maps a tail probability to a score in [0,1]: −log10(p)/10.
func scoreOf(p float64) float64 {
	if !(p < 1) {
		return 0
	}
	if p <= 0 {
		return 1
	}
	return min(1, -math.Log10(p)/10)
}
