package model

import (
	"math"
	"time"
)

const (
	maxDayBins = 144 // finest time-of-day profile: 10-minute bins
	weekBins   = 168 // hour-of-week profile
	day        = 24 * time.Hour
	week       = 7 * day
)

// baseline is the robust seasonal forecaster. It keeps two predictors, a plain level and a
// seasonal one (level + damped trend + time-of-day + hour-of-week), and uses whichever has had
// the smaller recent error; all updates use residuals clipped to ±Clip scales.
type baseline struct {
	n           uint32  // points learnt
	first, last int64   // Unix nanoseconds of the first and latest point learnt
	spacing     float64 // running typical spacing between points, seconds
	dayBins     uint16  // time-of-day bins in use; fixed once chosen
	level       float64 // seasonal predictor's deseasonalised level
	trend       float64
	flat        float64 // plain predictor's level
	scale       float64 // fast mean absolute residual of the chosen predictor
	slowScale   float64
	seasErr     float64 // slow mean absolute error of each predictor, for the choice
	flatErr     float64
	prev        float64 // previous value
	dayProf     [maxDayBins]float32
	weekProf    [weekBins]float32
}

// forecast is what the baseline expects before seeing a point.
type forecast struct {
	expected float64
	scale    float64 // robust standard deviation of the residual
	seasonal bool
	dayBin   int
	weekBin  int
	weekOn   bool
}

func (b *baseline) bins(t time.Time) (dayBin, weekBin int) {
	u := t.UTC()
	tod := time.Duration(u.Hour())*time.Hour + time.Duration(u.Minute())*time.Minute + time.Duration(u.Second())*time.Second
	n := int(b.dayBins)
	if n == 0 {
		n = 1
	}
	dayBin = int(tod * time.Duration(n) / day)
	weekBin = int(u.Weekday())*24 + u.Hour()
	return min(dayBin, n-1), weekBin
}

// predict forecasts the value at t from the state alone.
func (b *baseline) predict(t time.Time, p *Params) forecast {
	db, wb := b.bins(t)
	weekOn := b.n > 0 && time.Duration(b.last-b.first) >= week
	seas := b.level + b.trend + float64(b.dayProf[db])
	if weekOn {
		seas += float64(b.weekProf[wb])
	}
	f := forecast{dayBin: db, weekBin: wb, weekOn: weekOn}
	if b.dayBins > 0 && b.seasErr < 0.8*b.flatErr {
		f.expected, f.seasonal = seas, true
	} else {
		f.expected = b.flat
	}
	floor := 1e-9 * (1 + math.Abs(f.expected))
	f.scale = 1.25 * max(b.scale, 0.25*b.slowScale, floor)
	return f
}

func clip(v, c float64) float64 { return max(-c, min(c, v)) }

// learn updates the baseline with x observed at t, given the forecast made for it.
func (b *baseline) learn(t time.Time, x float64, f forecast, p *Params) {
	ns := t.UnixNano()
	if b.n == 0 {
		b.first, b.last = ns, ns
		b.level, b.flat, b.prev = x, x, x
		b.n = 1
		return
	}
	if d := float64(ns-b.last) / 1e9; d > 0 {
		if b.spacing == 0 {
			b.spacing = d
		} else {
			// A step toward d, bounded so one long gap cannot swing the spacing.
			b.spacing += 0.05 * clip(d-b.spacing, b.spacing)
		}
		b.last = ns
	}
	if b.dayBins == 0 && b.n >= 16 && b.spacing > 0 {
		perDay := math.Round(float64(day/time.Second) / b.spacing)
		b.dayBins = uint16(max(24, min(maxDayBins, perDay)))
		f.dayBin, f.weekBin = b.bins(t)
	}
	lim := p.Clip * f.scale
	seasPred := b.level + b.trend + float64(b.dayProf[f.dayBin])
	if f.weekOn {
		seasPred += float64(b.weekProf[f.weekBin])
	}
	rs, rf := x-seasPred, x-b.flat
	// The choice between predictors and the profiles' clipping use each predictor's own slow
	// error, capped rather than clipped, so a profile can still learn a large daily swing while
	// one outlier moves it little.
	if b.n < 3 {
		b.seasErr, b.flatErr = math.Abs(rs), math.Abs(rf)
	} else {
		b.seasErr += 4 * p.SlowScaleRate * (min(math.Abs(rs), 4*b.seasErr+f.scale) - b.seasErr)
		b.flatErr += 4 * p.SlowScaleRate * (min(math.Abs(rf), 4*b.flatErr+f.scale) - b.flatErr)
	}
	es := clip(rs, lim)
	ef := clip(rf, lim)
	ep := clip(rs, p.Clip*1.25*max(f.scale, b.seasErr))
	prevLevel := b.level
	// The seasonal level moves slower than the plain one so the profiles, not the level, learn
	// the daily shape.
	b.level += b.trend + p.LevelRate*0.25*es
	b.trend = p.TrendDamping * (b.trend + p.TrendRate*(b.level-prevLevel-b.trend))
	if b.dayBins > 0 {
		b.dayProf[f.dayBin] += float32(p.DayRate * (1 - p.LevelRate) * ep)
		if f.weekOn {
			b.weekProf[f.weekBin] += float32(p.WeekRate * (1 - p.LevelRate) * ep)
		}
	}
	b.flat += p.LevelRate * ef
	e := x - f.expected
	ae := min(math.Abs(e), 4*f.scale)
	if b.n < 3 || b.scale == 0 {
		// The scale starts as the mean absolute error of the points so far, and stays so while
		// that is zero: started from the latest error alone, a series whose first values repeat
		// (a count of 1, 1, 1) starts at a scale of next to nothing, and since errors are capped
		// at a few scales it takes hundreds of points to grow out of it, while the band drawn
		// around the forecast is a sliver and the level barely moves.
		b.scale += (math.Abs(e) - b.scale) / float64(b.n)
		b.slowScale = b.scale
	} else {
		b.scale += p.ScaleRate * (ae - b.scale)
		b.slowScale += p.SlowScaleRate * (ae - b.slowScale)
	}
	b.prev = x
	b.n++
}
