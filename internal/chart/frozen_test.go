package chart

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// episode is a percentage whose model band follows it: low and near 0 before the span, so the
// band reaches below 0 %; during the span the model learns the spike and its band widens past
// 100 %. The span is judged against the band frozen when it began, 5 % (-3 % to 13 %).
func episode() Series {
	s := Series{Title: "cpu  host=web-1", Unit: "%"}
	for i := range 120 {
		s.Times = append(s.Times, t0.Add(time.Duration(i)*time.Minute))
		v, e, w := 5.0, 5.0, 8.0
		if i >= 70 && i <= 95 {
			v = 97
			e, w = 5+float64(i-70)*3, 8+float64(i-70)*4 // the model learning the spike
		}
		s.Values = append(s.Values, v)
		s.Expected = append(s.Expected, e)
		s.Lower = append(s.Lower, e-w)
		s.Upper = append(s.Upper, e+w)
	}
	s.SpanStart, s.SpanEnd = s.Times[70], s.Times[95]
	s.Frozen = &Band{Expected: 5, Lower: -3, Upper: 13}
	s.Range = &Range{Min: 0, Max: 100}
	return s
}

// TestFrozenBandAndRange: inside the span the frozen band is drawn, not the model's widening
// one; the value axis stays within 0 to 100; the caller's slices are left as they were.
func TestFrozenBandAndRange(t *testing.T) {
	s := episode()
	before := append([]float64(nil), s.Upper...)
	f, err := renderFrame(s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	d := prepare(s)
	if d.ymin != 0 || d.ymax != 100 {
		t.Fatalf("value axis %g..%g, want 0..100", d.ymin, d.ymax)
	}
	for i, v := range s.Upper {
		if v != before[i] {
			t.Fatalf("Upper[%d] changed from %g to %g", i, before[i], v)
		}
	}
	img := f.img
	bandInSpan := overOn(colSpanFill, colBandFill)
	x := f.px(sec(s.Times[90]))
	// At point 90 the model's band is 65 ± 88; the frozen band is 0..13.
	if !colourNear(img, x, f.py(7), 2, bandInSpan, tolFill) {
		t.Errorf("no frozen band inside the span: %s", describe(img, x, f.py(7)))
	}
	if colourNear(img, x, f.py(50), 1, bandInSpan, tolFill) {
		t.Errorf("the model's band is drawn inside the span: %s", describe(img, x, f.py(50)))
	}
	if !colourNear(img, x, f.py(13), 2, colFrozen, tolLine) {
		t.Errorf("no dashed frozen edge at 13: %s", describe(img, x, f.py(13)))
	}
	// Before the span, the model's own band, clipped at 0.
	xb := f.px(sec(s.Times[30]))
	if !colourNear(img, xb, f.py(10), 2, over(colBandFill), tolFill) {
		t.Errorf("no band before the span: %s", describe(img, xb, f.py(10)))
	}
}

func TestFrozenAndRangeValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Series)
		want string
	}{
		{"frozen without span", func(s *Series) { s.SpanStart, s.SpanEnd = time.Time{}, time.Time{} }, "Frozen is set without a span"},
		{"inverted frozen", func(s *Series) { s.Frozen = &Band{Expected: 5, Lower: 13, Upper: -3} }, "Frozen.Lower = 13 is above Frozen.Upper = -3"},
		{"empty range", func(s *Series) { s.Range = &Range{Min: 100, Max: 100} }, "Range [100, 100] is not an interval"},
	} {
		s := episode()
		tc.edit(&s)
		_, err := Render(s, Options{})
		if !errors.Is(err, ErrInvalidSeries) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}
