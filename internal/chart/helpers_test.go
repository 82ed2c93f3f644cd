package chart

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"testing"
	"time"
)

// t0 is the start of every fixture; a fixed instant keeps renders
// reproducible for the golden files.
var t0 = time.Date(2026, 11, 25, 13, 0, 0, 0, time.UTC)

// fixture is a series of n points one minute apart: the observed value sits
// flat at 10 except for a spike to 90 in points [spanFrom, spanTo], the
// expected line is 50 and the band 40..60. The observed line is therefore
// well clear of the band, so band pixels can be checked without the line
// crossing them.
func fixture(n, spanFrom, spanTo int) Series {
	s := Series{Title: "fixture", Unit: "%"}
	for i := range n {
		s.Times = append(s.Times, t0.Add(time.Duration(i)*time.Minute))
		v := 10.0
		if i >= spanFrom && i <= spanTo {
			v = 90
		}
		s.Values = append(s.Values, v)
		s.Expected = append(s.Expected, 50)
		s.Lower = append(s.Lower, 40)
		s.Upper = append(s.Upper, 60)
	}
	if spanFrom >= 0 {
		s.SpanStart, s.SpanEnd = s.Times[spanFrom], s.Times[spanTo]
	}
	return s
}

// realistic is a noisy daily-looking series with a band that follows it and
// an anomaly, the kind of chart SREs see in chat.
func realistic(n int) Series {
	s := Series{Title: `node_cpu_usage{instance="web-1:9100", job="node"}`, Unit: "%"}
	for i := range n {
		s.Times = append(s.Times, t0.Add(time.Duration(i)*30*time.Second))
		e := 40 + 10*math.Sin(float64(i)/30)
		v := e + 3*math.Sin(float64(i)*1.7)
		if i >= n*5/8 && i < n*5/8+n/10 {
			v += 35 * math.Sin(float64(i-n*5/8)/float64(n/10)*math.Pi)
		}
		s.Values = append(s.Values, v)
		s.Expected = append(s.Expected, e)
		s.Lower = append(s.Lower, e-8)
		s.Upper = append(s.Upper, e+8)
	}
	s.SpanStart = s.Times[n*5/8]
	s.SpanEnd = s.Times[n*5/8+n/10-1]
	return s
}

// decode parses PNG bytes, failing the test when they are not a PNG.
func decode(t testing.TB, b []byte) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("output is not a PNG: %v", err)
	}
	return img
}

// over composites c onto a white background, the colour a translucent fill
// takes on the chart.
func over(c color.NRGBA) color.NRGBA {
	a := float64(c.A) / 255
	mix := func(v uint8) uint8 { return uint8(math.Round(float64(v)*a + 255*(1-a))) }
	return color.NRGBA{R: mix(c.R), G: mix(c.G), B: mix(c.B), A: 255}
}

// overOn composites fg onto bg (both straight alpha, bg opaque).
func overOn(fg, bg color.NRGBA) color.NRGBA {
	a := float64(fg.A) / 255
	mix := func(f, b uint8) uint8 { return uint8(math.Round(float64(f)*a + float64(b)*(1-a))) }
	return color.NRGBA{R: mix(fg.R, bg.R), G: mix(fg.G, bg.G), B: mix(fg.B, bg.B), A: 255}
}

func nrgba(c color.Color) color.NRGBA { return color.NRGBAModel.Convert(c).(color.NRGBA) }

// near reports whether two colours differ by at most tol in every channel.
func near(a, b color.Color, tol int) bool {
	x, y := nrgba(a), nrgba(b)
	d := func(p, q uint8) bool { return absInt(int(p)-int(q)) <= tol }
	return d(x.R, y.R) && d(x.G, y.G) && d(x.B, y.B) && d(x.A, y.A)
}

func absInt(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// Tolerances for colourNear: fills are flat, so their pixels match closely;
// thin lines are antialiased, so their best pixel is only close.
const (
	tolFill = 4
	tolLine = 48
)

// colourNear reports whether a pixel within r pixels of (x, y) matches want
// within tol per channel. The small search steps over grid lines and
// antialiased edges.
func colourNear(img image.Image, x, y float64, r int, want color.Color, tol int) bool {
	cx, cy := int(math.Round(x)), int(math.Round(y))
	for dy := -r; dy <= r; dy++ {
		for dx := -r; dx <= r; dx++ {
			if near(img.At(cx+dx, cy+dy), want, tol) {
				return true
			}
		}
	}
	return false
}

// describe names the colour at (x, y) for failure messages.
func describe(img image.Image, x, y float64) string {
	c := nrgba(img.At(int(math.Round(x)), int(math.Round(y))))
	return fmt.Sprintf("pixel (%.0f,%.0f) is rgba(%d,%d,%d,%d)", x, y, c.R, c.G, c.B, c.A)
}

func sec(t time.Time) float64 { return unixSeconds(t) }
