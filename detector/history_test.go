package detector

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestInspectHistory(t *testing.T) {
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }
	regular := func(n int, v func(int) float64) []Point {
		pts := make([]Point, n)
		for i := range pts {
			pts[i] = Point{T: at(i), V: v(i)}
		}
		return pts
	}
	ramp := func(i int) float64 { return float64(i % 7) }
	tests := []struct {
		name string
		pts  []Point
		want []string // substrings, one per expected warning, in order
	}{
		{"clean", regular(200, ramp), nil},
		{"nan and inf", append(regular(100, ramp), Point{T: at(100), V: math.NaN()}, Point{T: at(101), V: math.Inf(1)}),
			[]string{"skipped 2 NaN or infinite values"}},
		{"duplicate", append(regular(100, ramp), Point{T: at(99), V: 1}),
			[]string{"1 point repeats the previous timestamp (first at 2024-01-01T01:39:00Z)"}},
		{"unordered", append(regular(100, ramp), Point{T: at(50), V: 1}, Point{T: at(40), V: 1}),
			[]string{"2 points are earlier than a point before (first at 2024-01-01T00:50:00Z)"}},
		{"gap", append(regular(100, ramp), Point{T: at(200), V: 1}),
			[]string{"gap of 1h41m0s before 2024-01-01T03:20:00Z (typical spacing 1m0s)"}},
		{"short", regular(10, ramp), []string{"only 10 usable points, fewer than the 64"}},
		{"constant", regular(100, func(int) float64 { return 3 }), []string{"every value is the same"}},
		{"all nan", []Point{{T: at(0), V: math.NaN()}}, []string{"skipped 1 NaN or infinite value"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := InspectHistory(tc.pts).Warnings("h.csv", 64)
			if len(got) != len(tc.want) {
				t.Fatalf("warnings %q, want %d matching %q", got, len(tc.want), tc.want)
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(got[i], "h.csv: ") || !strings.Contains(got[i], w) {
					t.Errorf("warning %d = %q, want it to name h.csv and contain %q", i, got[i], w)
				}
			}
		})
	}
}
