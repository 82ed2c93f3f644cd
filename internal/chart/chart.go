package chart

import (
	"bytes"
	"errors"
	"fmt"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"time"
)

// Image size limits, in pixels. Below the minimum the labels no longer fit;
// above the maximum a chart stops being a chat attachment and becomes a
// memory problem.
const (
	DefaultWidth  = 800
	DefaultHeight = 360
	MinWidth      = 240
	MinHeight     = 120
	MaxWidth      = 4096
	MaxHeight     = 4096
)

// MaxPoints is the number of points above which a series is reduced before
// drawing. An 800 px wide chart cannot show more detail than this, and the
// reduction keeps each bucket's extremes so spikes survive.
const MaxPoints = 2000

// maxIndexErrors caps how many per-index problems one validation reports, so
// a million-point series with a systematic problem yields a readable error.
const maxIndexErrors = 5

// Series is one metric over time with what the detector expected of it.
//
// Values, Expected, Lower and Upper are index-aligned with Times. Expected
// and the band (Lower with Upper) are optional; nil means "not drawn". A NaN
// or ±Inf in any of them is drawn as a gap.
type Series struct {
	Title    string      // chart title, for example the metric and its labels
	Unit     string      // value axis label, for example "%" or "bytes/s"
	Times    []time.Time // ascending; drawn in UTC
	Values   []float64   // the observed values
	Expected []float64   // optional expected value, same length as Values or nil
	Lower    []float64   // optional lower bound of the expected band, same length or nil
	Upper    []float64   // optional upper bound of the expected band, same length or nil

	// SpanStart and SpanEnd mark the anomalous span. Both zero means there is
	// none; SpanStart alone means the anomaly is still open and runs to the
	// last point.
	SpanStart, SpanEnd time.Time

	// Frozen, when set with a span, is the band the span is judged against,
	// frozen when it began: inside the span it is drawn instead of the
	// model's band (which goes on learning the anomaly), with dashed edges.
	Frozen *Band

	// Range, when set, is what the metric's values can be, such as 0 to 100
	// for a percentage: the value axis and the band are clipped to it.
	Range *Range
}

// Band is an expected value with the normal range around it.
type Band struct {
	Expected, Lower, Upper float64
}

// Range is the closed interval [Min, Max].
type Range struct {
	Min, Max float64
}

// Options sizes the image. Zero values select the defaults.
type Options struct {
	Width, Height int // pixels; zero = DefaultWidth x DefaultHeight
}

// Render draws s as a PNG image and returns its bytes. Invalid input is
// reported as an error wrapping ErrInvalidSeries, ErrNoData or
// ErrInvalidOptions; Render never panics.
func Render(s Series, o Options) ([]byte, error) {
	f, err := renderFrame(s, o)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	buf.Grow(96 << 10)
	// Best speed costs about 4% in size and saves about a third of the
	// encoding time, which is most of the time of a render.
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	if err := enc.Encode(&buf, f.img); err != nil {
		return nil, fmt.Errorf("chart %q: encode png: %w", s.Title, err)
	}
	return buf.Bytes(), nil
}

// WriteFile renders s and writes the PNG to path. It creates missing parent
// directories and writes through a temporary file in the same directory that
// is renamed into place, so a reader never sees a partial image. Nothing is
// written when rendering fails.
func WriteFile(path string, s Series, o Options) (err error) {
	if path == "" {
		return errors.New("chart: write file: empty path")
	}
	b, err := Render(s, o)
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("chart: write %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("chart: write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(b); err != nil {
		return fmt.Errorf("chart: write %s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("chart: write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("chart: write %s: sync: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("chart: write %s: close: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("chart: write %s: %w", path, err)
	}
	return nil
}

// size returns the image size in pixels with defaults applied.
func (o Options) size() (w, h int, err error) {
	w, h = o.Width, o.Height
	if w == 0 {
		w = DefaultWidth
	}
	if h == 0 {
		h = DefaultHeight
	}
	var errs []error
	if w < MinWidth || w > MaxWidth {
		errs = append(errs, fmt.Errorf("Width %d outside [%d, %d]: %w", o.Width, MinWidth, MaxWidth, ErrInvalidOptions))
	}
	if h < MinHeight || h > MaxHeight {
		errs = append(errs, fmt.Errorf("Height %d outside [%d, %d]: %w", o.Height, MinHeight, MaxHeight, ErrInvalidOptions))
	}
	if len(errs) > 0 {
		return 0, 0, fmt.Errorf("chart: options: %w", errors.Join(errs...))
	}
	return w, h, nil
}

// validate reports every problem with s at once. Per-index problems are
// capped at maxIndexErrors per kind.
func (s Series) validate() error {
	n := len(s.Times)
	if n == 0 {
		return fmt.Errorf("chart %q: series has no points: %w", s.Title, ErrNoData)
	}
	var errs []error
	add := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(format+": %w", append(args, ErrInvalidSeries)...))
	}
	if len(s.Values) != n {
		add("Values has %d points, Times has %d", len(s.Values), n)
	}
	if s.Expected != nil && len(s.Expected) != n {
		add("Expected has %d points, Times has %d", len(s.Expected), n)
	}
	switch {
	case (s.Lower == nil) != (s.Upper == nil):
		add("Lower and Upper must be set together (Lower has %d points, Upper has %d)", len(s.Lower), len(s.Upper))
	case s.Lower != nil:
		if len(s.Lower) != n {
			add("Lower has %d points, Times has %d", len(s.Lower), n)
		}
		if len(s.Upper) != n {
			add("Upper has %d points, Times has %d", len(s.Upper), n)
		}
	}

	var zero, order, band int
	for i, t := range s.Times {
		if t.IsZero() {
			if zero++; zero <= maxIndexErrors {
				add("Times[%d] is the zero time", i)
			}
			continue
		}
		if i > 0 && !s.Times[i-1].IsZero() && t.Before(s.Times[i-1]) {
			if order++; order <= maxIndexErrors {
				add("Times[%d] (%s) is before Times[%d] (%s); times must be ascending",
					i, t.UTC().Format(time.RFC3339Nano), i-1, s.Times[i-1].UTC().Format(time.RFC3339Nano))
			}
		}
	}
	if len(s.Lower) == n && len(s.Upper) == n {
		for i := range n {
			lo, hi := s.Lower[i], s.Upper[i]
			if finite(lo) && finite(hi) && lo > hi {
				if band++; band <= maxIndexErrors {
					add("Lower[%d] = %g is above Upper[%d] = %g", i, lo, i, hi)
				}
			}
		}
	}
	for _, c := range []struct {
		what  string
		count int
	}{{"zero times", zero}, {"out-of-order times", order}, {"inverted bounds", band}} {
		if c.count > maxIndexErrors {
			add("%d more %s not listed", c.count-maxIndexErrors, c.what)
		}
	}

	if f := s.Frozen; f != nil {
		switch {
		case s.SpanStart.IsZero():
			add("Frozen is set without a span")
		case !finite(f.Expected) || !finite(f.Lower) || !finite(f.Upper):
			add("Frozen band %g (%g to %g) is not finite", f.Expected, f.Lower, f.Upper)
		case f.Lower > f.Upper:
			add("Frozen.Lower = %g is above Frozen.Upper = %g", f.Lower, f.Upper)
		}
	}
	if r := s.Range; r != nil && (!finite(r.Min) || !finite(r.Max) || r.Min >= r.Max) {
		add("Range [%g, %g] is not an interval", r.Min, r.Max)
	}
	switch {
	case s.SpanStart.IsZero() && !s.SpanEnd.IsZero():
		add("SpanEnd (%s) is set without SpanStart", s.SpanEnd.UTC().Format(time.RFC3339))
	case !s.SpanEnd.IsZero() && s.SpanEnd.Before(s.SpanStart):
		add("SpanEnd (%s) is before SpanStart (%s)",
			s.SpanEnd.UTC().Format(time.RFC3339), s.SpanStart.UTC().Format(time.RFC3339))
	}

	if len(errs) == 0 && !anyFinite(s.Values) {
		return fmt.Errorf("chart %q: none of the %d values is finite: %w", s.Title, n, ErrNoData)
	}
	if len(errs) > 0 {
		return fmt.Errorf("chart %q: %w", s.Title, errors.Join(errs...))
	}
	return nil
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func anyFinite(vs []float64) bool {
	for _, v := range vs {
		if finite(v) {
			return true
		}
	}
	return false
}
