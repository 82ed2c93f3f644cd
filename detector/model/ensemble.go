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
	PartRatio  = "ratio"  // a value beyond the range on a logarithmic scale: a change by a factor
	PartFlat   = "flat"   // a local variability below its range: a flatline or stuck value
	PartJump   = "jump"   // a step from the previous value beyond the steps the series has made
	PartForest = "forest" // a window of features the isolation forest isolates quickly
	PartShape  = "shape"  // a recent stretch unlike any stretch of the series' recent history
)

// Model names, saved in the state header.
const (
	NameRobust   = "robust"   // the range statistics: the model that ships (see Default)
	NameForest   = "forest"   // the isolation forest alone
	NameEnsemble = "ensemble" // both, the higher of their scores
)

// Indexes of the statistics whose range the engine tracks, in the order of partNames.
const (
	statLevel  = iota // the value
	statShift         // short-term mean of the values
	statRobust        // residual from the seasonal baseline, in robust scales
	statRatio         // logarithm of the value
	statFlat          // logarithm of the local variability
	statJump          // step from the previous value
	stats             // number of statistics
)

// Indexes of the parts that are not range statistics, after them in partNames.
const (
	partForest = stats     // the isolation forest
	partShape  = stats + 1 // the nearest-neighbour distance of the latest window (see shape)
	parts      = stats + 2 // number of parts
)

var partNames = [parts]string{PartLevel, PartShift, PartRobust, PartRatio, PartFlat, PartJump, PartForest, PartShape}

// statInfo says how each statistic is judged. A smoothed statistic creeps toward a new level over
// several points and would renew its own range at every step, so it is judged against a snapshot
// of its range taken every lagPoints points (lagged). A statistic that depends on the baseline or
// on the means starts its range only after the warm-up, when their start-up transients have
// passed (afterWarmup). The band ordinary noise reaches (see engine.floors) lies around the
// forecast, or for the short-term mean around the centre of the range it is judged against
// (centred).
var statInfo = [stats]struct{ lagged, afterWarmup, centred bool }{
	statLevel:  {},
	statShift:  {lagged: true, afterWarmup: true, centred: true},
	statRobust: {afterWarmup: true},
	statRatio:  {},
	statFlat:   {lagged: true, afterWarmup: true},
	statJump:   {afterWarmup: true},
}

const (
	// lagPoints is the spacing of the range snapshots smoothed statistics are judged against.
	lagPoints = 16
	// matureSamples is how many independent values a mean's range must have seen before it is
	// judged.
	matureSamples = 16
	// matureAge is the number of independent values after which a range is judged with
	// Params.Margin alone (see margin).
	matureAge = 300
	// scaleFloor is the least residual scale, as a share of the value range, so on a flat or
	// quantised stretch a routine blip is not an enormous z-score.
	scaleFloor = 0.03
	// logOffset is the share of the value range added before taking logarithms, so zeros stay
	// finite.
	logOffset = 0.01
	// flatOffset is the share of the slow mean absolute step added to the short-term one before
	// taking its logarithm, so the long runs of equal values of a quantised series cannot fall
	// further than log(1/flatOffset) below its usual variability.
	flatOffset = 0.1
	// noiseZ is the departure, in standard deviations of what noise makes of it, that the
	// residual, the value and its logarithm (from the forecast) and the short-term mean (from
	// the centre of its range) must exceed before their ranges are judged: Gaussian noise
	// reaches it about once in 2,000 points.
	noiseZ = 3.5
	// jumpZ is the step, in slow mean absolute steps, that a step must exceed before its range
	// is judged: for Gaussian noise four standard deviations of the steps.
	jumpZ = 5
	// flatShare is the short-term mean absolute step, as a share of the slow one, below which the
	// local variability may count as a flatline: an exponential mean of about seven steps of
	// Gaussian noise falls to a quarter of its usual size far less often than once in 10,000
	// points, a stuck value gets there within ten.
	flatShare = 0.25
	// cleanMargin multiplies the margin of a statistic's clean range (see engine.clean): a
	// second incident must lie clearly beyond it.
	cleanMargin = 3
	// maxValue bounds the magnitude of values the models learn from, so sums of squares and
	// differences stay finite.
	maxValue = 1e150
)

// engine implements the three models; useStats and useForest select the parts that vote.
type engine struct {
	name string
	// forest is the forest's state, nil for the robust model, which never uses it: at 2 KB it
	// would be two fifths of every robust series' model. It sits next to the name so the
	// collector scans only the start of an engine for pointers.
	forest    *forestPart
	p         Params
	useStats  bool
	useForest bool

	base   baseline
	smooth float64 // short-term exponential mean of the values
	vol    float64 // short-term mean absolute step
	calm   float64 // slow mean absolute step
	ext    [stats]extreme
	lagged [stats]extreme // snapshot of ext, for the smoothed statistics
	// clean is each statistic's range learnt without the new extremes of its recent alarms: an
	// incident widens ext to its own values, which would hide a second, smaller incident after
	// it, so each statistic is also judged against clean with cleanMargin times the margin.
	clean     [stats]extreme
	cleanLag  [stats]extreme // snapshot of clean, for the smoothed statistics
	excursion [stats]uint16  // points left during which clean leaves out new extremes
	// held is the residual scale from before the latest flatline, while the variability has not
	// come back: a flatline shrinks the baseline's scale toward nothing, and the ordinary noise
	// that resumes after it would otherwise be judged, and banded, on that shrunken scale.
	held float64
	// quantum is the smallest non-zero step seen between consecutive values: the resolution of
	// a quantised series, such as 1 for counts, and next to nothing for a continuous one.
	quantum float64
	// shape is the shape part's state, which the statistics carry.
	shape shape
}

// forestPart is the state of the forest part: its trees and their sample, the calibration of its
// score and the counters that pace its sample and its refits.
type forestPart struct {
	tail     tail
	trees    forest
	sinceFit uint32
	strideAt uint32
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
	if e.useForest {
		e.forest = new(forestPart)
	}
	return e
}

// NewRobust returns the range-tracking model over the value, its short-term mean, its logarithm,
// its local variability, its steps and its residual from the seasonal baseline: the model that
// ships. p must pass Validate; use DefaultParams.
func NewRobust(p Params) (detector.Model, error) { return newChecked(NameRobust, p) }

// NewForest returns the isolation-forest model over the baseline's window features.
func NewForest(p Params) (detector.Model, error) { return newChecked(NameForest, p) }

// NewEnsemble returns the robust model and the forest together, scoring the higher of the two.
func NewEnsemble(p Params) (detector.Model, error) { return newChecked(NameEnsemble, p) }

// logMatureAge is log(matureAge), cached.
var logMatureAge = math.Log(matureAge)

func newChecked(name string, p Params) (detector.Model, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return newEngine(name, p), nil
}

// Default returns the factory that ships: the robust model with DefaultParams. Pair it with
// DefaultThreshold.
func Default() detector.Factory {
	p := DefaultParams()
	return func() detector.Model { return newEngine(NameRobust, p) }
}

// Name implements detector.Model.
func (e *engine) Name() string { return e.name }

var _ detector.WarmingUp = (*engine)(nil)

// WarmupLeft implements detector.WarmingUp: how many more points the model learns before it
// scores, 0 once it does. The statistics score from Params.Warmup points on (those that depend
// on the baseline or on a mean join later, see ready). The forest alone scores once its trees are
// first fitted, which needs treeSample feature vectors in its sample, one every Stride points,
// and Refit points since the first (which only starts the baseline). NaN and infinite values
// are not learnt, so they do not count.
func (e *engine) WarmupLeft() int {
	left := max(0, e.p.Warmup-int(e.base.n))
	if e.useStats || e.forest.trees.fitted {
		return left
	}
	fp := e.forest
	ring := 0
	if k := treeSample - int(fp.trees.ringN); k > 0 {
		ring = e.p.Stride - int(fp.strideAt) + (k-1)*e.p.Stride
	}
	fit := max(e.p.Refit-int(fp.sinceFit), ring)
	if e.base.n == 0 {
		fit++
	}
	return max(left, fit)
}

// ready is the number of points after which statistic i is judged: the warm-up, and for a mean
// the time its range needs to see matureSamples independent values, one per time constant.
func (e *engine) ready(i int) int {
	switch {
	case statInfo[i].lagged:
		return e.p.Warmup + int(matureSamples/e.p.ShiftRate)
	case statInfo[i].afterWarmup:
		// Its range starts only when the warm-up ends; judging the next point against a range
		// of one value would alarm on every new series.
		return 2 * e.p.Warmup
	}
	return e.p.Warmup
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
	if statInfo[i].lagged {
		k *= e.p.ShiftRate
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
	f.scale = max(f.scale, e.held)
	band := e.p.Band * f.scale
	s := detector.Score{Expected: f.expected, Lower: f.expected - band, Upper: f.expected + band}
	if !detector.Valid(pt.V) || math.Abs(pt.V) > maxValue {
		return s
	}
	x := pt.V
	if e.base.n == 0 {
		s.Expected, s.Lower, s.Upper = x, x, x
		e.base.learn(pt.T, x, f, &e.p)
		e.smooth = x
		e.ext[statLevel].start(x)
		e.ext[statRatio].start(e.logOf(x))
		e.clean = e.ext
		return s
	}
	z := (x - f.expected) / max(f.scale, scaleFloor*e.ext[statLevel].width())
	smooth := e.smooth + e.p.ShiftRate*(x-e.smooth)
	jump := x - e.base.prev
	vol := e.vol + e.p.ShiftRate*(math.Abs(jump)-e.vol)
	calm := e.calm
	if !e.flatlineHeld() {
		// While a flatline holds the scale, the slow mean step is held too, or the steps of
		// the noise that resumes would look large for hundreds of points.
		calm += e.p.SlowScaleRate * (math.Abs(jump) - e.calm)
	}
	var cur, centre [stats]float64
	cur[statLevel], centre[statLevel] = x, smooth
	cur[statShift], centre[statShift] = smooth, smooth
	cur[statRobust] = clip(z, 1e6)
	cur[statRatio], centre[statRatio] = e.logOf(x), e.logOf(smooth)
	cur[statFlat] = math.Log(vol + flatOffset*calm + 1e-300)
	centre[statFlat] = cur[statFlat]
	cur[statJump] = jump

	var fx [features]int16
	forestStat := 0.0
	if e.useForest {
		fx[0] = quantise(z)
		fx[1] = quantise((smooth - f.expected) / f.scale)
		fx[2] = quantise(math.Log2((vol + 1e-12) / (f.scale + 1e-12)))
		fx[3] = quantise(jump / f.scale)
		if e.forest.trees.fitted {
			forestStat = math.Exp(12 * (e.forest.trees.score(&fx, e.p.Trees) - 0.5))
		}
	}

	n := int(e.base.n)
	noise := e.noise(f, calm)
	shapeScore := 0.0
	if e.useStats {
		// The distance floor is a share of the residual scale, as for the variability's
		// logarithm; the calibration forgets at the slow scale's rate and learns a warm-up's
		// worth of distances before the part scores.
		sc := max(f.scale, scaleFloor*e.ext[statLevel].width())
		shapeScore = e.shape.observe(x, s.Lower, s.Upper, flatOffset*sc, e.p.SlowScaleRate, e.p.Warmup)
	}
	// alarm marks the statistics at or above the shipped threshold on their main range, whose
	// clean range then leaves the excursion out; admit marks those that alarm on their clean
	// range alone, which then takes the excursion in.
	var alarm, admit [stats]bool
	if n >= e.p.Warmup {
		var part [parts]float64
		for i, v := range cur {
			if !e.useStats || n < e.ready(i) {
				continue
			}
			ref, cl := &e.ext[i], &e.clean[i]
			if statInfo[i].lagged {
				ref, cl = &e.lagged[i], &e.cleanLag[i]
			}
			m := e.margin(i, n)
			if ex := excessOf(i, ref, v, &noise[i]); ex > 0 {
				part[i] = 1 - math.Exp2(-ex/m)
			}
			switch {
			case part[i] >= DefaultThreshold:
				alarm[i] = true
			case e.excursion[i] == 0:
				if ex := excessOf(i, cl, v, &noise[i]); ex > 0 {
					part[i] = max(part[i], 1-math.Exp2(-ex/(cleanMargin*m)))
					admit[i] = part[i] >= DefaultThreshold
				}
			}
		}
		if e.useForest && e.forest.trees.fitted {
			part[partForest] = scoreOf(e.forest.tail.prob(forestStat))
		}
		part[partShape] = shapeScore
		for _, v := range part {
			s.Score = max(s.Score, v)
		}
		// The parts that flagged the point: those at the shipped threshold, or the strongest
		// when none reaches it.
		flag := min(s.Score, DefaultThreshold)
		for i, name := range partNames {
			if part[i] > 0 && part[i] >= flag {
				s.Models = append(s.Models, name)
			}
		}
	}

	// Learn.
	e.base.learn(pt.T, x, f, &e.p)
	n++
	for i, v := range cur {
		switch {
		case !statInfo[i].afterWarmup || n > e.p.Warmup:
			e.ext[i].learn(v, centre[i], e.p.RangeRate)
			e.learnClean(i, n, v, centre[i], alarm[i], admit[i])
		case n == e.p.Warmup:
			e.ext[i].start(v)
			e.clean[i].start(v)
		}
	}
	if n%lagPoints == 0 || n == e.p.Warmup {
		e.lagged = e.ext
		e.cleanLag = e.clean
	}
	e.smooth, e.vol, e.calm = smooth, vol, calm
	if a := math.Abs(jump); a > 0 && (e.quantum == 0 || a < e.quantum) {
		e.quantum = a
	}
	switch {
	case alarm[statFlat]:
		e.held = max(e.held, f.scale)
	case e.held > 0 && !e.flatlineHeld():
		// The variability is back: let go at the slow scale's rate while the baseline's own
		// scale regrows, and drop the held scale once that has caught up.
		e.held *= 1 - e.p.SlowScaleRate
		if e.held < e.base.predict(pt.T, &e.p).scale {
			e.held = 0
		}
	}
	if fp := e.forest; e.useForest {
		if fp.trees.fitted {
			fp.tail.add(forestStat, e.p.TailRate)
		}
		fp.strideAt++
		if fp.strideAt >= uint32(e.p.Stride) {
			fp.strideAt = 0
			fp.trees.add(&fx)
		}
		fp.sinceFit++
		if fp.sinceFit >= uint32(e.p.Refit) && fp.trees.ringN >= treeSample {
			fp.sinceFit = 0
			fp.trees.fit(e.p.Trees, uint64(e.base.n))
		}
	}
	return s
}

// excursionPoints is how long, in points after its latest alarm, a statistic's clean range leaves
// out new extremes: the time the short-term mean takes to see matureSamples independent values
// (106 points), after which it is judged as a level. An excursion that lasts that long is a
// new level rather than an incident. It fits the state's 16 bits however slow the mean.
func (e *engine) excursionPoints() uint16 {
	return uint16(min(matureSamples/e.p.ShiftRate, math.MaxUint16))
}

// learnClean updates statistic i's clean range with v once n points have been learnt. Until the
// statistic is judged, and after an alarm on the clean range alone (the second incident has been
// reported, so its excursion is ordinary from now on), the clean range is the main one. For
// excursionPoints after an alarm on the main range it still sinks toward the centre but takes in
// no new extreme; if the excursion outlasts that period (a new level), it is taken in at once.
func (e *engine) learnClean(i, n int, v, centre float64, alarm, admit bool) {
	c := &e.clean[i]
	switch {
	case n <= e.ready(i) || admit:
		*c, e.cleanLag[i] = e.ext[i], e.lagged[i]
		e.excursion[i] = 0
	case alarm || e.excursion[i] > 0:
		if alarm {
			e.excursion[i] = e.excursionPoints()
		}
		c.learn(max(c.lo, min(c.hi, v)), centre, e.p.RangeRate)
		e.excursion[i]--
		if e.excursion[i] == 0 && (v > c.hi || v < c.lo) {
			*c, e.cleanLag[i] = e.ext[i], e.lagged[i]
		}
	default:
		c.learn(v, centre, e.p.RangeRate)
	}
}

// noiseBand is what ordinary noise makes of one statistic: the band [lo, hi] it reaches, beyond
// which the statistic must also lie to count as a record however young or narrow its range, and
// pad, the resolution by which the range is widened on each side.
type noiseBand struct{ lo, hi, pad float64 }

// excessOf is how far v, the current value of statistic i, lies beyond ref widened by noise.pad,
// and beyond noise's band, in widths of ref.
func excessOf(i int, ref *extreme, v float64, noise *noiseBand) float64 {
	lo, hi := noise.lo, noise.hi
	if statInfo[i].centred {
		c := (ref.hi + ref.lo) / 2
		lo, hi = c+lo, c+hi
	}
	return ref.excessBeyond(v, min(lo, ref.lo-noise.pad), max(hi, ref.hi+noise.pad))
}

// noise returns, for each statistic, what ordinary noise makes of it. A range that has seen only
// calm stretches of a noisy series is no reason to page on its noise, so each statistic must also
// lie beyond a band:
//
//   - the value beyond noiseZ robust standard deviations of the forecast; on the logarithmic
//     scale likewise, except below when that band reaches zero, where a fall by a factor is what
//     the logarithm is for;
//   - the residual beyond ±noiseZ;
//   - the step beyond jumpZ slow mean absolute steps;
//   - the short-term mean beyond noiseZ of its own standard deviations (meanScale) from the
//     centre of its range: its range is never judged narrower than that;
//   - the local variability, which counts only when it falls, below flatShare of the slow mean
//     absolute step.
//
// A quantised series' value stands for anything within half a quantum of it, so a value one
// quantum beyond the range may be no new value at all: the value, the step and the residual are
// judged against their range widened by one quantum (a count of 10 after a highest count of 9 is
// no record). calm is the slow mean absolute step including the point being scored.
func (e *engine) noise(f forecast, calm float64) [stats]noiseBand {
	sc := max(f.scale, scaleFloor*e.ext[statLevel].width())
	inf := math.Inf(1)
	d := noiseZ * sc
	q := e.quantum
	sk := e.skew(f, sc, noiseZ)
	var nb [stats]noiseBand
	nb[statLevel] = noiseBand{f.expected - d, f.expected + d + sk, q}
	nb[statRatio] = noiseBand{inf, e.logOf(f.expected + d + sk), 0}
	if f.expected-d > 0 {
		nb[statRatio].lo = e.logOf(f.expected - d)
	}
	nb[statRobust] = noiseBand{-noiseZ, noiseZ + sk/sc, q / sc}
	step := e.calmNow()
	nb[statJump] = noiseBand{-jumpZ * step, jumpZ * step, q}
	m := noiseZ * e.meanScale(sc, step)
	nb[statShift] = noiseBand{-m, m, 0}
	nb[statFlat] = noiseBand{math.Log(flatShare*step + flatOffset*calm + 1e-300), inf, 0}
	return nb
}

// skew is how far the upper tail of a series of counts reaches beyond z standard deviations of a
// symmetric one: counts are skewed, a Poisson count with mean λ by 1/√λ, and the Cornish-Fisher
// expansion moves its quantile z by (z²−1)/6 standard deviations times the skewness, which for
// counts of one quantum q is (z²−1)/6·q whatever λ (a count of 9 is ordinary noise at a mean of
// 2, two quanta beyond a symmetric 3.5 standard deviations). A series counts when it is not
// negative and its variance sc² is about its mean in quanta; a continuous series (a tiny
// quantum) and a series whose variance is small against its level (sc²/mean below q) get
// next to nothing.
func (e *engine) skew(f forecast, sc, z float64) float64 {
	if !(f.expected > 0) || e.ext[statLevel].lo < 0 {
		return 0
	}
	return (z*z - 1) / 6 * min(e.quantum, sc*sc/f.expected)
}

// meanScale is the standard deviation of the short-term mean that the series' noise makes, given
// the residual scale sc and the slow mean absolute step: that of an exponential mean of
// independent values, sqrt(a/(2−a))·sc for the rate a, made smaller when the noise alternates.
// Independent noise makes steps of 2/√π·sc on average; steps q times that mean a lag-one
// correlation ρ = 1 − q² (q² held within [0.05, 1.95]), and the mean of noise that alternates
// (ρ < 0) varies less, by sqrt((1+ρ)/(1−ρ)). Smaller steps (a wandering series, ρ > 0) do not
// raise it: the short-term mean of such a series covers a wide range anyway, and a wider band
// would hide its level shifts.
func (e *engine) meanScale(sc, step float64) float64 {
	a := e.p.ShiftRate
	q := step / (2 / math.SqrtPi * sc)
	q2 := min(max(q*q, 0.05), 1.95)
	return sc * math.Sqrt(a/(2-a)) * min(1, math.Sqrt((2-q2)/q2))
}

// flatlineHeld reports whether a flatline holds the residual scale: the flat part has alarmed and
// the short-term mean step is still within the flatline's band, below flatShare of the slow one.
func (e *engine) flatlineHeld() bool {
	return e.held > 0 && e.vol < flatShare*e.calm
}

// calmNow is the slow mean absolute step, corrected for its start from zero.
func (e *engine) calmNow() float64 {
	w := -math.Expm1(float64(e.base.n) * math.Log1p(-e.p.SlowScaleRate))
	return e.calm / max(w, 1e-9)
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
