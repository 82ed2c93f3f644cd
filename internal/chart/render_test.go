package chart

import (
	"image/color"
	"math"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRenderSize(t *testing.T) {
	tests := []struct {
		name   string
		opts   Options
		wantW  int
		wantH  int
		series Series
	}{
		{"defaults", Options{}, DefaultWidth, DefaultHeight, realistic(240)},
		{"custom", Options{Width: 1200, Height: 500}, 1200, 500, realistic(240)},
		{"width only", Options{Width: 640}, 640, DefaultHeight, realistic(240)},
		{"height only", Options{Height: 200}, DefaultWidth, 200, realistic(240)},
		{"smallest", Options{Width: MinWidth, Height: MinHeight}, MinWidth, MinHeight, realistic(240)},
		{"tall and narrow", Options{Width: 300, Height: 900}, 300, 900, realistic(240)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Render(tt.series, tt.opts)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			img := decode(t, b)
			if got := img.Bounds().Size(); got.X != tt.wantW || got.Y != tt.wantH {
				t.Fatalf("image is %dx%d, want %dx%d", got.X, got.Y, tt.wantW, tt.wantH)
			}
		})
	}
}

// TestRenderMarks checks, pixel by pixel, that the band, the span, the
// anomalous points and the lines are drawn where they belong and nowhere
// else.
func TestRenderMarks(t *testing.T) {
	s := fixture(120, 70, 85)
	f, err := renderFrame(s, Options{})
	if err != nil {
		t.Fatalf("renderFrame: %v", err)
	}
	b, err := Render(s, Options{})
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	img := decode(t, b)

	white := color.NRGBA{R: 255, G: 255, B: 255, A: 255}
	band := over(colBandFill)
	span := over(colSpanFill)
	bandInSpan := overOn(colSpanFill, colBandFill)
	xOut := f.px(sec(s.Times[30]))   // well left of the span
	xOut2 := f.px(sec(s.Times[110])) // well right of the span
	xIn := f.px(sec(s.Times[78]))    // inside the span

	checks := []struct {
		name  string
		x, y  float64
		want  color.Color
		r     int
		tol   int
		wantI bool // want the colour (true) or want it absent (false)
	}{
		{"band between the bounds", xOut, f.py(45), band, 2, tolFill, true},
		{"band right of the span", xOut2, f.py(55), band, 2, tolFill, true},
		{"no band below the lower bound", xOut, f.py(30), band, 2, tolFill, false},
		{"no band above the upper bound", xOut, f.py(70), band, 2, tolFill, false},
		{"background below the band", xOut, f.py(30), white, 2, tolFill, true},
		{"span above the data", xIn, f.py(95), span, 2, tolFill, true},
		{"span below the data", xIn, f.py(25), span, 2, tolFill, true},
		{"band seen through the span", xIn, f.py(45), bandInSpan, 2, tolFill, true},
		{"no span left of it", xOut, f.py(95), span, 2, tolFill, false},
		{"no span right of it", xOut2, f.py(95), span, 2, tolFill, false},
		{"anomalous point", xIn, f.py(90), colAnomaly, 1, tolFill, true},
		{"observed line", xOut, f.py(10), colObserved, 1, tolLine, true},
		{"observed line not red outside the span", xOut, f.py(10), colAnomaly, 2, tolLine, false},
		{"expected line", xOut, f.py(50), colExpected, 4, tolLine, true},
	}
	for _, c := range checks {
		if got := colourNear(img, c.x, c.y, c.r, c.want, c.tol); got != c.wantI {
			t.Errorf("%s: colour %v present = %v, want %v; %s", c.name, nrgba(c.want), got, c.wantI, describe(img, c.x, c.y))
		}
	}

	// The data area lies inside the image and leaves room for the header
	// and the axes.
	if !f.data.In(img.Bounds()) || f.data.Dx() < img.Bounds().Dx()/2 || f.data.Dy() < img.Bounds().Dy()/2 {
		t.Errorf("data area %v is implausible for a %v image", f.data, img.Bounds())
	}
}

func TestRenderWithoutBandOrSpan(t *testing.T) {
	s := fixture(120, -1, -1)
	s.Lower, s.Upper, s.Expected = nil, nil, nil
	f, err := renderFrame(s, Options{})
	if err != nil {
		t.Fatalf("renderFrame: %v", err)
	}
	img := f.img
	for _, idx := range []int{10, 60, 110} {
		x := f.px(sec(s.Times[idx]))
		for _, v := range []float64{-5, 5, 15, 30} {
			y := f.py(v)
			if y < float64(f.data.Min.Y) || y > float64(f.data.Max.Y) {
				continue
			}
			if colourNear(img, x, y, 1, over(colBandFill), tolFill) || colourNear(img, x, y, 1, over(colSpanFill), tolFill) {
				t.Errorf("band or span colour drawn although neither was given; %s", describe(img, x, y))
			}
		}
	}
}

func TestRenderGapsAndSinglePoints(t *testing.T) {
	s := fixture(120, -1, -1)
	for i := 40; i <= 50; i++ {
		s.Values[i] = math.NaN()
	}
	s.Values[52] = math.Inf(1) // isolates point 51
	s.Values[53] = math.NaN()
	s.Lower[90] = math.NaN() // a hole in the band
	f, err := renderFrame(s, Options{})
	if err != nil {
		t.Fatalf("renderFrame: %v", err)
	}
	y := f.py(10)
	if !colourNear(f.img, f.px(sec(s.Times[30])), y, 1, colObserved, tolLine) {
		t.Errorf("observed line missing before the gap; %s", describe(f.img, f.px(sec(s.Times[30])), y))
	}
	if x := f.px(sec(s.Times[45])); colourNear(f.img, x, y, 2, colObserved, tolLine) {
		t.Errorf("observed line drawn across the gap; %s", describe(f.img, x, y))
	}
	if x := f.px(sec(s.Times[51])); !colourNear(f.img, x, y, 1, colObserved, tolLine) {
		t.Errorf("isolated point 51 not drawn as a dot; %s", describe(f.img, x, y))
	}
	// The band is split at index 90: at its middle the band's fill is
	// absent, around it present.
	xHole := f.px(sec(s.Times[90]))
	if colourNear(f.img, xHole, f.py(45), 0, over(colBandFill), tolFill) {
		t.Errorf("band drawn through a missing bound; %s", describe(f.img, xHole, f.py(45)))
	}
	if x := f.px(sec(s.Times[80])); !colourNear(f.img, x, f.py(45), 2, over(colBandFill), tolFill) {
		t.Errorf("band missing away from the hole; %s", describe(f.img, x, f.py(45)))
	}
}

func TestRenderSinglePoint(t *testing.T) {
	s := Series{Title: "one", Unit: "req/s", Times: []time.Time{t0}, Values: []float64{5}}
	f, err := renderFrame(s, Options{})
	if err != nil {
		t.Fatalf("renderFrame: %v", err)
	}
	x, y := f.px(sec(t0)), f.py(5)
	if !colourNear(f.img, x, y, 1, colObserved, tolLine) {
		t.Errorf("single point not drawn; %s", describe(f.img, x, y))
	}
	// The point sits inside the plot, not on its edge.
	if x < float64(f.data.Min.X)+10 || x > float64(f.data.Max.X)-10 || y < float64(f.data.Min.Y)+10 || y > float64(f.data.Max.Y)-10 {
		t.Errorf("single point at (%.0f,%.0f) is on the edge of the data area %v", x, y, f.data)
	}
}

// TestRenderEdgeCases renders awkward but valid input; each must produce a
// PNG of the requested size.
func TestRenderEdgeCases(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	ts := func(n int, step time.Duration) []time.Time {
		out := make([]time.Time, n)
		for i := range out {
			out[i] = t0.Add(time.Duration(i) * step)
		}
		return out
	}
	constant := func(n int, v float64) []float64 {
		out := make([]float64, n)
		for i := range out {
			out[i] = v
		}
		return out
	}
	huge := realistic(100_000)
	huge.Values[12_345] = 1e6 // a spike that reduction must keep

	tests := []struct {
		name string
		s    Series
		o    Options
	}{
		{"constant", Series{Times: ts(50, time.Minute), Values: constant(50, 42)}, Options{}},
		{"constant zero", Series{Times: ts(50, time.Minute), Values: constant(50, 0)}, Options{}},
		{"constant negative", Series{Times: ts(50, time.Minute), Values: constant(50, -3)}, Options{}},
		{"constant huge", Series{Times: ts(5, time.Minute), Values: constant(5, 1e300)}, Options{}},
		{"constant tiny", Series{Times: ts(5, time.Minute), Values: constant(5, 1e-300)}, Options{}},
		{"extreme range", Series{Times: ts(3, time.Minute), Values: []float64{-math.MaxFloat64, 0, math.MaxFloat64}}, Options{}},
		{"close large values", Series{Times: ts(3, time.Minute), Values: []float64{1e15, 1e15 + 0.25, 1e15 + 0.5}}, Options{}},
		{"mixed non-finite", Series{Times: ts(6, time.Minute), Values: []float64{nan, 1, inf, 2, math.Inf(-1), nan}}, Options{}},
		{"all times equal", Series{Times: []time.Time{t0, t0, t0}, Values: []float64{1, 2, 3}}, Options{}},
		{"sub-second", Series{Times: ts(20, 50*time.Millisecond), Values: constant(20, 1)}, Options{}},
		{"multi-day", Series{Times: ts(500, 10*time.Minute), Values: constant(500, 7)}, Options{}},
		{"years", Series{Times: ts(40, 365*24*time.Hour), Values: constant(40, 7)}, Options{}},
		{"ancient and far future", Series{Times: []time.Time{time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC), time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)}, Values: []float64{1, 2}}, Options{}},
		{"band all NaN", Series{Times: ts(3, time.Minute), Values: []float64{1, 2, 3}, Lower: []float64{nan, nan, nan}, Upper: []float64{nan, nan, nan}}, Options{}},
		{"expected all NaN", Series{Times: ts(3, time.Minute), Values: []float64{1, 2, 3}, Expected: []float64{nan, nan, nan}}, Options{}},
		{"span before the data", Series{Times: ts(10, time.Minute), Values: constant(10, 1), SpanStart: t0.Add(-time.Hour), SpanEnd: t0.Add(-50 * time.Minute)}, Options{}},
		{"span after the data", Series{Times: ts(10, time.Minute), Values: constant(10, 1), SpanStart: t0.Add(time.Hour)}, Options{}},
		{"span of an instant", Series{Times: ts(10, time.Minute), Values: constant(10, 1), SpanStart: t0.Add(5 * time.Minute), SpanEnd: t0.Add(5 * time.Minute)}, Options{}},
		{"open span", Series{Times: ts(10, time.Minute), Values: constant(10, 1), SpanStart: t0.Add(5 * time.Minute)}, Options{}},
		{"long title", Series{Title: strings.Repeat("very_long_metric_name_", 20), Times: ts(10, time.Minute), Values: constant(10, 1)}, Options{Width: MinWidth, Height: MinHeight}},
		{"non-UTC times", Series{Times: []time.Time{t0.In(time.FixedZone("X", 5*3600)), t0.Add(time.Hour).In(time.FixedZone("Y", -3*3600))}, Values: []float64{1, 2}}, Options{}},
		{"huge series", huge, Options{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Render(tt.s, tt.o)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			w, h, _ := tt.o.size()
			if got := decode(t, b).Bounds().Size(); got.X != w || got.Y != h {
				t.Fatalf("image is %dx%d, want %dx%d", got.X, got.Y, w, h)
			}
		})
	}
}

// TestRenderHugeSeriesKeepsSpike checks that reduction keeps the extreme a
// reader must see: the spike is drawn at its height.
func TestRenderHugeSeriesKeepsSpike(t *testing.T) {
	s := fixture(100_000, -1, -1)
	s.Values[54_321] = 100
	f, err := renderFrame(s, Options{})
	if err != nil {
		t.Fatalf("renderFrame: %v", err)
	}
	x, y := f.px(sec(s.Times[54_321])), f.py(100)
	if !colourNear(f.img, x, y, 2, colObserved, tolLine) {
		t.Errorf("spike at point 54321 lost by reduction; %s", describe(f.img, x, y))
	}
}

// TestRenderConcurrent renders from several goroutines; with -race it
// proves that renders share no mutable state.
func TestRenderConcurrent(t *testing.T) {
	s := realistic(300)
	want, err := Render(s, Options{})
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for range 8 {
		wg.Go(func() {
			got, err := Render(s, Options{})
			switch {
			case err != nil:
				errs <- err.Error()
			case string(got) != string(want):
				errs <- "concurrent render differs from a sequential one"
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
