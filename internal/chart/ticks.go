package chart

import (
	"math"
	"strconv"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
)

// maxTicks bounds every tick loop, whatever the axis range.
const maxTicks = 40

// tickGap is the least free space between two time labels.
const tickGap = vg.Length(18)

// timeSteps are the tick intervals, in seconds, that a reader can count in:
// they fall on whole seconds, minutes, hours and UTC days.
var timeSteps = [...]float64{
	0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5,
	1, 2, 5, 10, 15, 30,
	60, 2 * 60, 5 * 60, 10 * 60, 15 * 60, 30 * 60,
	3600, 2 * 3600, 3 * 3600, 6 * 3600, 12 * 3600,
	86400, 2 * 86400, 7 * 86400, 14 * 86400, 28 * 86400,
	91 * 86400, 182 * 86400, 364 * 86400,
}

// timeTicker places UTC time ticks at round intervals, choosing the
// smallest interval whose labels fit side by side in width.
type timeTicker struct {
	width    vg.Length  // length of the axis
	style    text.Style // tick label style, to measure labels
	multiDay bool       // the axis crosses a UTC date boundary
}

var _ plot.Ticker = timeTicker{}

// Ticks implements plot.Ticker.
func (t timeTicker) Ticks(lo, hi float64) []plot.Tick {
	if !(hi > lo) || math.IsInf(hi-lo, 0) {
		return nil
	}
	span := hi - lo
	step := math.NaN()
	for _, c := range timeSteps {
		n := math.Floor(span/c) + 1
		if n > maxTicks {
			continue
		}
		label := formatTime(lo, timeLayout(c, t.multiDay))
		if vg.Length(n)*(t.style.Width(label)+tickGap) <= t.width {
			step = c
			break
		}
	}
	if math.IsNaN(step) {
		// Spans of many years: whole multiples of 364 days, few enough to fit.
		years := math.Ceil(span / (timeSteps[len(timeSteps)-1] * 4))
		step = math.Max(1, years) * timeSteps[len(timeSteps)-1]
	}
	layout := timeLayout(step, t.multiDay)
	first := math.Ceil(lo/step) * step
	ticks := make([]plot.Tick, 0, 8)
	for i := range maxTicks {
		v := first + float64(i)*step
		if v > hi {
			break
		}
		ticks = append(ticks, plot.Tick{Value: v, Label: formatTime(v, layout)})
	}
	return ticks
}

// timeLayout returns the time format for ticks step seconds apart.
func timeLayout(step float64, multiDay bool) string {
	switch {
	case step < 1:
		return "15:04:05.000"
	case step < 60:
		return "15:04:05"
	case step < 86400 && multiDay:
		return "Jan 2 15:04"
	case step < 86400:
		return "15:04"
	case step < 28*86400:
		return "Jan 2"
	default:
		return "Jan 2006"
	}
}

// formatTime formats Unix seconds in UTC. Rounding to the millisecond keeps
// float error from turning 12:00:00 into 11:59:59.999.
func formatTime(sec float64, layout string) string {
	ms := math.Round(sec * 1000)
	return time.UnixMilli(int64(ms)).UTC().Format(layout)
}

// timeAxisLabel names the dates the axis covers, so tick labels can stay
// short: "Wed 25 Nov 2026 (UTC)" or "24 Nov – 26 Nov 2026 (UTC)".
func timeAxisLabel(first, last time.Time) string {
	first, last = first.UTC(), last.UTC()
	switch {
	case sameDay(first, last):
		return first.Format("Mon 2 Jan 2006") + " (UTC)"
	case first.Year() == last.Year():
		return first.Format("2 Jan") + " – " + last.Format("2 Jan 2006") + " (UTC)"
	default:
		return first.Format("2 Jan 2006") + " – " + last.Format("2 Jan 2006") + " (UTC)"
	}
}

func sameDay(a, b time.Time) bool {
	ay, am, ad := a.Date()
	by, bm, bd := b.Date()
	return ay == by && am == bm && ad == bd
}

// valueTicker places value ticks at 1, 2, 2.5 and 5 times a power of ten,
// at most count of them, labelled compactly (1.5M rather than 1.5e+06).
type valueTicker struct {
	count int
}

var _ plot.Ticker = valueTicker{}

// Ticks implements plot.Ticker.
func (t valueTicker) Ticks(lo, hi float64) []plot.Tick {
	if !(hi > lo) || !finite(lo) || !finite(hi) {
		return nil
	}
	count := max(t.count, 2)
	step := niceStep(hi/2-lo/2, count-1)
	if step == 0 {
		return []plot.Tick{{Value: lo, Label: formatValues([]float64{lo}, 0)[0]}}
	}
	vals := stepValues(lo, hi, step)
	// A round step can leave only one or two ticks inside the range; an
	// axis with a single label cannot be read, so take finer steps.
	for try := 0; len(vals) < min(3, count) && try < 3; try++ {
		finer := smallerStep(step)
		if finer <= 0 {
			break
		}
		step, vals = finer, stepValues(lo, hi, finer)
	}
	labels := formatValues(vals, step)
	ticks := make([]plot.Tick, len(vals))
	for i, v := range vals {
		ticks[i] = plot.Tick{Value: v, Label: labels[i]}
	}
	return ticks
}

// stepValues returns the multiples of step within [lo, hi].
func stepValues(lo, hi, step float64) []float64 {
	first := math.Ceil(lo/step) * step
	vals := make([]float64, 0, 8)
	for i := range maxTicks {
		v := first + float64(i)*step
		if v > hi || (len(vals) > 0 && v <= vals[len(vals)-1]) {
			break // past the end, or step lost in float precision
		}
		vals = append(vals, v)
	}
	return vals
}

// smallerStep returns the round step below step: 5 → 2.5 → 2 → 1 → 0.5.
func smallerStep(step float64) float64 {
	mag := math.Pow(10, math.Floor(math.Log10(step)))
	switch m := math.Round(step/mag*10) / 10; {
	case m >= 5:
		return 2.5 * mag
	case m >= 2.5:
		return 2 * mag
	case m >= 2:
		return mag
	default:
		return mag / 2
	}
}

// niceStep returns a round step (1, 2, 2.5 or 5 times a power of ten) that
// cuts a range of 2*half into at most about n intervals, or 0 when there is
// none. The range is passed halved so that it cannot overflow.
func niceStep(half float64, n int) float64 {
	if !(half > 0) || math.IsInf(half, 0) || n < 1 {
		return 0
	}
	rough := half / float64(n) * 2
	if !(rough > 0) || math.IsInf(rough, 0) {
		return 0
	}
	mag := math.Pow(10, math.Floor(math.Log10(rough)))
	if !(mag > 0) || math.IsInf(mag, 0) {
		return 0
	}
	for _, m := range [...]float64{1, 2, 2.5, 5, 10} {
		if s := m * mag; s >= rough {
			if math.IsInf(s, 0) {
				return 0
			}
			return s
		}
	}
	return 0
}

// siPrefixes scale large values: 1500000 is labelled 1.5M.
var siPrefixes = [...]struct {
	factor float64
	suffix string
}{{1e18, "E"}, {1e15, "P"}, {1e12, "T"}, {1e9, "G"}, {1e6, "M"}, {1e3, "k"}}

// formatValues labels tick values. All labels share one SI prefix and are
// printed with the fewest decimals that tell neighbouring ticks apart and
// show the step exactly; trailing zeros are then dropped (2.5, 5, 7.5).
func formatValues(vals []float64, step float64) []string {
	var mag float64
	for _, v := range vals {
		mag = math.Max(mag, math.Abs(v))
	}
	scale, suffix := 1.0, ""
	if mag >= 1e4 {
		for _, p := range siPrefixes {
			if mag >= p.factor {
				scale, suffix = p.factor, p.suffix
				break
			}
		}
	}
	out := make([]string, len(vals))
	if mag >= 1e21 || (mag > 0 && mag < 1e-4) {
		for i, v := range vals {
			out[i] = strconv.FormatFloat(v, 'g', 3, 64)
		}
		return out
	}
	scaledStep := step / scale
	for dec := 0; dec <= 10; dec++ {
		ok := true
		for i, v := range vals {
			out[i] = strconv.FormatFloat(v/scale, 'f', dec, 64)
			if i > 0 && out[i] == out[i-1] {
				ok = false
			}
		}
		if ok && (scaledStep == 0 || exactAt(scaledStep, dec)) {
			break
		}
	}
	for i := range out {
		if strings.Contains(out[i], ".") {
			out[i] = strings.TrimRight(strings.TrimRight(out[i], "0"), ".")
		}
		if out[i] == "-0" || out[i] == "0" {
			out[i] = "0" // no "-0", and a bare zero needs no prefix
			continue
		}
		out[i] += suffix
	}
	return out
}

// exactAt reports whether step is shown exactly with dec decimals, so that
// steps of 2.5 are labelled 0, 2.5, 5 rather than 0, 3, 5.
func exactAt(step float64, dec int) bool {
	p := math.Pow(10, float64(dec))
	return math.Abs(step*p-math.Round(step*p)) < 1e-6*math.Max(1, step*p)
}
