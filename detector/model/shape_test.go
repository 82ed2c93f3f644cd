package model

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/smartcloudops/smartcloudops/detector"
)

// dailyWithBreak is twelve days of a daily sine of amplitude 20 with N(0,2) noise at five-minute
// steps; from breakAt (when non-negative) one day holds the mean level with the same noise: a day
// without the usual cycle, inside the values the series has always taken.
func dailyWithBreak(breakAt int, seed uint64) []detector.Point {
	r := rand.New(rand.NewPCG(seed, 3))
	pts := make([]detector.Point, 12*288)
	for i := range pts {
		v := 50 + 20*math.Sin(2*math.Pi*float64(i)/288) + 2*r.NormFloat64()
		if breakAt >= 0 && i >= breakAt && i < breakAt+288 {
			v = 50 + 2*r.NormFloat64()
		}
		pts[i] = detector.Point{T: t0.Add(time.Duration(i) * 5 * time.Minute), V: v}
	}
	return pts
}

// TestShapeFindsCycleBreak checks that a day without the usual daily cycle, which moves no range
// (the level, its mean and its steps all stay within what the series has done), is reported by
// the shape part within the day on most of ten series (the ranges alone report none), and that
// the same series without the break raise no alarm from the point the shape part starts scoring.
func TestShapeFindsCycleBreak(t *testing.T) {
	const breakAt = 3024
	start := shapeRing*shapeSeg + DefaultParams().Warmup*shapeSeg
	reported := 0
	for seed := range uint64(10) {
		m := Default()()
		found := -1
		for i, p := range dailyWithBreak(breakAt, seed) {
			s := m.Observe(p)
			if i >= breakAt && i < breakAt+288 && found < 0 && s.Score >= DefaultThreshold && slices.Contains(s.Models, PartShape) {
				found = i
			}
		}
		if found >= 0 {
			reported++
		}
		clean := Default()()
		for i, p := range dailyWithBreak(-1, seed) {
			if s := clean.Observe(p); i >= start && s.Score >= DefaultThreshold {
				t.Errorf("seed %d: the series without a break alarmed at %d (%v, %.2f)", seed, i, s.Models, s.Score)
				break
			}
		}
	}
	if reported < 7 {
		t.Errorf("the shape part reported %d of 10 days without the cycle, want at least 7", reported)
	}
	t.Logf("the shape part reported %d of 10 days without the cycle", reported)
}

// TestShapeLeavesSpikesToRanges checks that a lone spike beyond the band, which the level reports
// at once, is not reported again by the shape part while the windows that hold it pass: they are
// not judged, and the spike enters the history clipped to the band.
func TestShapeLeavesSpikesToRanges(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 2))
	pts := make([]detector.Point, 4000)
	const spikeAt = 3500
	for i := range pts {
		v := 10 + r.NormFloat64()
		if i == spikeAt {
			v += 120
		}
		pts[i] = detector.Point{T: t0.Add(time.Duration(i) * 5 * time.Minute), V: v}
	}
	m := Default()()
	for i, p := range pts {
		s := m.Observe(p)
		switch {
		case i == spikeAt && s.Score < DefaultThreshold:
			t.Fatalf("the spike at %d scored %.2f", i, s.Score)
		case i > spikeAt+1 && s.Score >= DefaultThreshold && slices.Contains(s.Models, PartShape):
			t.Fatalf("point %d after the spike flagged by the shape part (%.2f)", i, s.Score)
		}
	}
}

// TestShapeNearestSkipsOverlap checks that the window being judged is compared only with windows
// that end before it begins: windows that share its latest segments would always be near.
func TestShapeNearestSkipsOverlap(t *testing.T) {
	var s shape
	for i := range shapeRing {
		v := 0.0
		if i >= shapeRing-(shapeWin-1) {
			v = 5
		}
		s.ring[i] = float32(v)
	}
	s.n, s.at = shapeRing, 0
	if d := s.nearest(5); d != 5 {
		t.Errorf("nearest distance %v, want 5: the query's own segments were matched", d)
	}
	// A window like the query earlier in the history is found.
	for j := range shapeWin {
		s.ring[10+j] = 5
	}
	if d := s.nearest(5); d != 0 {
		t.Errorf("nearest distance %v, want 0", d)
	}
}

// TestLoadsVersion8 checks that a model file written by the release before the shape part
// (v8-robust.model, trained on 4,032 points of a daily pattern) still loads: its statistics and
// baseline are kept, so it scores without a warm-up, its shape part starts empty and fills its
// history again, and it is saved in the current format.
func TestLoadsVersion8(t *testing.T) {
	path := filepath.Join("testdata", "v8-robust.model")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if v := binary.LittleEndian.Uint16(data[len(magic):]); v != 8 {
		t.Fatalf("%s is version %d, want 8", path, v)
	}
	m, err := Load(data)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if _, err := LoadFile(path); err != nil {
		t.Fatalf("LoadFile: %v", err)
	}
	e := m.(*engine)
	if e.base.n != 4032 || e.WarmupLeft() != 0 {
		t.Fatalf("loaded %d points learnt, %d of warm-up left; want 4032 and 0", e.base.n, e.WarmupLeft())
	}
	if e.shape.n != 0 || e.shape.seen != 0 {
		t.Fatalf("shape part loaded with %d segments and %d distances, want an empty one", e.shape.n, e.shape.seen)
	}
	saved, _ := m.MarshalBinary()
	if v := binary.LittleEndian.Uint16(saved[len(magic):]); v != formatVersion {
		t.Errorf("saved as version %d, want %d", v, formatVersion)
	}
	last := time.Unix(0, e.base.last).UTC()
	r := rand.New(rand.NewPCG(1, 1))
	for i := range shapeRing * shapeSeg {
		v := 50 + 20*math.Sin(2*math.Pi*float64(i)/288) + r.NormFloat64()
		m.Observe(detector.Point{T: last.Add(time.Duration(i+1) * 5 * time.Minute), V: v})
	}
	if e.shape.n != shapeRing {
		t.Errorf("shape history holds %d segments after %d points, want %d", e.shape.n, shapeRing*shapeSeg, shapeRing)
	}
	again, _ := m.MarshalBinary()
	if bytes.Equal(again, saved) {
		t.Error("state did not change while the model learnt")
	}
}

// TestShapeQuietAfterExcursion checks that a load far beyond the band, which the ranges report,
// is not followed by a shape alarm once the series is back to its usual values: the windows of
// the excursion are not judged, and their distances must not linger in the short-term mean that
// judges the first windows after it.
func TestShapeQuietAfterExcursion(t *testing.T) {
	for seed := range uint64(5) {
		r := rand.New(rand.NewPCG(seed, 11))
		const loadAt, loadLen = 3600, 45
		pts := make([]detector.Point, 4000)
		for i := range pts {
			v := 20 + r.NormFloat64()
			if i >= loadAt && i < loadAt+loadLen {
				v = 96 + r.NormFloat64()
			}
			pts[i] = detector.Point{T: t0.Add(time.Duration(i) * time.Second), V: v}
		}
		m := Default()()
		for i, p := range pts {
			s := m.Observe(p)
			if i >= loadAt+loadLen && s.Score >= DefaultThreshold && slices.Contains(s.Models, PartShape) {
				t.Errorf("seed %d: point %d, %d after the load ended, flagged by the shape part (%.2f)", seed, i, i-loadAt-loadLen, s.Score)
				break
			}
		}
	}
}
