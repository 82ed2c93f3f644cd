package chart

import (
	"flag"
	"image"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden PNGs in testdata")

// goldenCases are the reference charts. They are also the quickest way to
// see what SmartCloudOps posts: open testdata/*.png.
func goldenCases() map[string]struct {
	s Series
	o Options
} {
	gappy := realistic(240)
	gappy.Title = "http_requests_per_second{service=\"checkout\"}"
	gappy.Unit = "req/s"
	for i := range gappy.Values {
		gappy.Values[i] *= 1200
		gappy.Expected[i] *= 1200
		gappy.Lower[i] *= 1200
		gappy.Upper[i] *= 1200
	}
	for i := 60; i < 70; i++ {
		gappy.Values[i] = math.NaN()
	}
	gappy.Values[71] = math.NaN() // leaves point 70 on its own

	open := Series{Title: "node_network_transmit_bytes_per_second{device=\"eth0\"}", Unit: "bytes/s"}
	for i := range 300 {
		t := time.Date(2026, 11, 24, 18, 0, 0, 0, time.UTC).Add(time.Duration(i) * 5 * time.Minute)
		e := 4e6 + 2e6*math.Sin(2*math.Pi*float64(i)/288)
		v := e * (1 + 0.05*math.Sin(float64(i)*2.3))
		if i >= 270 {
			v = e * 2.2
		}
		open.Times = append(open.Times, t)
		open.Values = append(open.Values, v)
		open.Lower = append(open.Lower, e*0.8)
		open.Upper = append(open.Upper, e*1.2)
	}
	open.SpanStart = open.Times[270]

	return map[string]struct {
		s Series
		o Options
	}{
		"cpu_spike":   {realistic(240), Options{}},
		"episode":     {episode(), Options{}},
		"gaps":        {gappy, Options{}},
		"open_span":   {open, Options{}},
		"small_plain": {Series{Title: "queue_depth", Times: realistic(60).Times, Values: realistic(60).Values}, Options{Width: 400, Height: 200}},
	}
}

// TestGolden compares renders with the PNGs in testdata. Small differences
// in antialiasing are tolerated so that a change of CPU architecture does
// not fail the test; a changed layout or colour does. Run
// `go test ./internal/chart -run TestGolden -update` after an intended
// change and look at the new images.
func TestGolden(t *testing.T) {
	for name, c := range goldenCases() {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("testdata", name+".png")
			got, err := Render(c.s, c.o)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			if *update {
				if err := WriteFile(path, c.s, c.o); err != nil {
					t.Fatal(err)
				}
				return
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if diff, total := pixelDiff(decode(t, got), decode(t, b)); diff > total/500 {
				t.Errorf("%d of %d pixels differ from %s; run with -update if the change is intended", diff, total, path)
			}
		})
	}
}

// pixelDiff counts the pixels that differ by more than a little in any
// channel; images of different sizes differ everywhere.
func pixelDiff(a, b image.Image) (diff, total int) {
	total = a.Bounds().Dx() * a.Bounds().Dy()
	if a.Bounds() != b.Bounds() {
		return total, total
	}
	for y := a.Bounds().Min.Y; y < a.Bounds().Max.Y; y++ {
		for x := a.Bounds().Min.X; x < a.Bounds().Max.X; x++ {
			if !near(a.At(x, y), b.At(x, y), 24) {
				diff++
			}
		}
	}
	return diff, total
}
