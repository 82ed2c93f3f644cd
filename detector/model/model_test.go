package model

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/smartcloudops/smartcloudops/detector"
)

var t0 = time.Date(2024, 3, 4, 0, 0, 0, 0, time.UTC)

// synth is a daily-seasonal noisy series with a spike at spikeAt (none when negative).
func synth(n, spikeAt int, seed uint64) []detector.Point {
	r := rand.New(rand.NewPCG(seed, 1))
	pts := make([]detector.Point, n)
	for i := range pts {
		t := t0.Add(time.Duration(i) * 5 * time.Minute)
		v := 50 + 20*math.Sin(2*math.Pi*float64(i)/288) + r.NormFloat64()
		if i == spikeAt {
			v += 40
		}
		pts[i] = detector.Point{T: t, V: v}
	}
	return pts
}

func kinds(t testing.TB) map[string]detector.Model {
	t.Helper()
	out := map[string]detector.Model{}
	for name, mk := range map[string]func(Params) (detector.Model, error){NameRobust: NewRobust, NameForest: NewForest, NameEnsemble: NewEnsemble} {
		m, err := mk(DefaultParams())
		if err != nil {
			t.Fatal(err)
		}
		out[name] = m
	}
	return out
}

// TestCausal checks that each point is scored from it and earlier points only, past the point
// where every part scores (the shape part's history fills in 2,048 points).
func TestCausal(t *testing.T) {
	pts := synth(5000, 4500, 1)
	for name := range kinds(t) {
		t.Run(name, func(t *testing.T) {
			short, long := kinds(t)[name], kinds(t)[name]
			var a []detector.Score
			for _, p := range pts[:4000] {
				a = append(a, short.Observe(p))
			}
			for i, p := range pts {
				s := long.Observe(p)
				if i < 4000 && (s.Score != a[i].Score || s.Expected != a[i].Expected) {
					t.Fatalf("point %d: score with future points %v, without %v", i, s, a[i])
				}
			}
		})
	}
}

// TestSpikeRanksFirst checks that a 40σ spike on a learnt daily pattern outscores every ordinary
// point of the preceding two days.
func TestSpikeRanksFirst(t *testing.T) {
	pts := synth(4000, 3800, 2)
	m := Default()()
	var top float64
	for i, p := range pts {
		s := m.Observe(p)
		switch {
		case i >= 3224 && i < 3800:
			top = max(top, s.Score)
		case i == 3800:
			if s.Score <= top {
				t.Errorf("spike scored %.3f, not above the %.3f of ordinary points", s.Score, top)
			}
		}
	}
}

func TestRoundTrip(t *testing.T) {
	pts := synth(4000, 3500, 3)
	for name, m := range kinds(t) {
		t.Run(name, func(t *testing.T) {
			for _, p := range pts[:3000] {
				m.Observe(p)
			}
			data, err := m.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			if len(data) > 8192 {
				t.Errorf("state is %d bytes, want at most 8192", len(data))
			}
			r, err := Load(data)
			if err != nil {
				t.Fatal(err)
			}
			if r.Name() != name {
				t.Fatalf("restored %q, want %q", r.Name(), name)
			}
			for i, p := range pts[3000:] {
				if a, b := m.Observe(p), r.Observe(p); a.Score != b.Score || a.Expected != b.Expected {
					t.Fatalf("point %d after restore: %v, want %v", 3000+i, b, a)
				}
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	m := Default()()
	for _, p := range synth(500, -1, 4) {
		m.Observe(p)
	}
	good, _ := m.MarshalBinary()
	forest, _ := NewForest(DefaultParams())
	forestState, _ := forest.MarshalBinary()
	badVersion := append([]byte{}, good...)
	badVersion[4] = formatVersion + 1
	oldVersion := append([]byte{}, good...)
	oldVersion[4] = oldestVersion - 1
	bad := *m.(*engine)
	bad.shape.n, bad.shape.at = shapeRing-1, 0
	badShape, _ := bad.MarshalBinary()
	neg := *m.(*engine)
	neg.quantum = -1
	negQuantum, _ := neg.MarshalBinary()
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, ErrNotModel},
		{"bad magic", []byte("JUNKJUNKJUNK"), ErrNotModel},
		{"version", badVersion, ErrVersion},
		{"old version", oldVersion, ErrVersion},
		{"shape history", badShape, ErrCorrupt},
		{"truncated", good[:len(good)-7], ErrCorrupt},
		{"trailing", append(append([]byte{}, good...), 1, 2), ErrCorrupt},
		{"negative quantum", negQuantum, ErrCorrupt},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Load(tc.data); !errors.Is(err, tc.want) {
				t.Errorf("Load: %v, want %v", err, tc.want)
			}
		})
	}
	if err := m.UnmarshalBinary(forestState); !errors.Is(err, ErrMismatch) {
		t.Errorf("robust model restored from forest state: %v, want %v", err, ErrMismatch)
	}
}

func TestBadInput(t *testing.T) {
	tests := []struct {
		name string
		gen  func(i int) detector.Point
	}{
		{"constant", func(i int) detector.Point { return detector.Point{T: t0.Add(time.Duration(i) * time.Minute), V: 7} }},
		{"nan and inf", func(i int) detector.Point {
			v := float64(i % 5)
			switch i % 7 {
			case 3:
				v = math.NaN()
			case 5:
				v = math.Inf(1 - 2*(i%2))
			}
			return detector.Point{T: t0.Add(time.Duration(i) * time.Minute), V: v}
		}},
		{"unordered and duplicate", func(i int) detector.Point {
			return detector.Point{T: t0.Add(time.Duration((i*7919)%500) * time.Minute), V: float64(i % 13)}
		}},
		{"gaps", func(i int) detector.Point {
			return detector.Point{T: t0.Add(time.Duration(i*i) * time.Minute), V: float64(i % 3)}
		}},
		{"huge", func(i int) detector.Point {
			return detector.Point{T: t0.Add(time.Duration(i) * time.Minute), V: math.MaxFloat64 / float64(1+i%3)}
		}},
		{"zero time", func(i int) detector.Point { return detector.Point{V: float64(i)} }},
	}
	for _, tc := range tests {
		for name, m := range kinds(t) {
			t.Run(tc.name+"/"+name, func(t *testing.T) {
				for i := range 600 {
					s := m.Observe(tc.gen(i))
					if !(s.Score >= 0 && s.Score <= 1) {
						t.Fatalf("point %d: score %v outside [0,1]", i, s.Score)
					}
				}
				data, err := m.MarshalBinary()
				if err != nil {
					t.Fatal(err)
				}
				if _, err := Load(data); err != nil {
					t.Errorf("state after bad input does not load: %v", err)
				}
			})
		}
	}
	// A constant series scores 0 until it changes.
	m := Default()()
	for i := range 300 {
		if s := m.Observe(detector.Point{T: t0.Add(time.Duration(i) * time.Minute), V: 7}); s.Score != 0 {
			t.Fatalf("constant series point %d scored %v", i, s.Score)
		}
	}
	if s := m.Observe(detector.Point{T: t0.Add(300 * time.Minute), V: 70}); s.Score < DefaultThreshold {
		t.Errorf("jump after a constant run scored %v, want ≥ %v", s.Score, DefaultThreshold)
	}
}

func TestFiles(t *testing.T) {
	m := Default()()
	Train(m, synth(1000, -1, 5))
	path := filepath.Join(t.TempDir(), "m.model")
	if err := SaveFile(path, m); err != nil {
		t.Fatal(err)
	}
	f, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	a, b := f(), f()
	p := detector.Point{T: t0.Add(1000 * 5 * time.Minute), V: 50}
	if sa, sb := a.Observe(p), b.Observe(p); sa.Score != sb.Score {
		t.Errorf("two models from one file disagree: %v vs %v", sa, sb)
	}
	a.Observe(detector.Point{T: p.T.Add(time.Minute), V: 1e6})
	if _, err := LoadFile(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("LoadFile of a missing file succeeded")
	}
}

func TestParamsValidate(t *testing.T) {
	if err := DefaultParams().Validate(); err != nil {
		t.Fatal(err)
	}
	p := DefaultParams()
	p.LevelRate, p.Trees = 2, 0
	if _, err := NewEnsemble(p); err == nil {
		t.Error("NewEnsemble accepted invalid params")
	}
}

func FuzzLoad(f *testing.F) {
	for name, m := range kinds(f) {
		_ = name
		for _, p := range synth(400, 300, 6) {
			m.Observe(p)
		}
		data, _ := m.MarshalBinary()
		f.Add(data)
	}
	f.Add([]byte("SCOM\x01\x00\x08ensemble"))
	if v3, err := os.ReadFile(filepath.Join("testdata", "v3-ensemble.model")); err == nil {
		f.Add(v3) // an old format, refused
	}
	if v5, err := os.ReadFile(filepath.Join("testdata", "v5-ensemble.model")); err == nil {
		f.Add(v5) // an old format, refused
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Load(data)
		if err != nil {
			if !errors.Is(err, ErrNotModel) && !errors.Is(err, ErrVersion) && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Load error %v wraps none of the package's sentinels", err)
			}
			return
		}
		// Whatever Load accepts, it saves in a form that loads back to the same state.
		saved, err := m.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		again, err := Load(saved)
		if err != nil {
			t.Fatalf("state saved from an accepted model does not load: %v", err)
		}
		if resaved, err := again.MarshalBinary(); err != nil || !bytes.Equal(resaved, saved) {
			t.Fatalf("save, load, save is not stable (%v)", err)
		}
		for i := range 50 {
			p := detector.Point{T: t0.Add(time.Duration(i) * time.Minute), V: float64(i % 7)}
			s, s2 := m.Observe(p), again.Observe(p)
			if !(s.Score >= 0 && s.Score <= 1) {
				t.Fatalf("point %d scored %v, outside [0,1]", i, s.Score)
			}
			if s.Score != s2.Score {
				t.Fatalf("point %d scored %v by the loaded model and %v by its reloaded copy", i, s.Score, s2.Score)
			}
		}
		if _, err := m.MarshalBinary(); err != nil {
			t.Fatal(err)
		}
	})
}

func BenchmarkObserve(b *testing.B) {
	pts := synth(20000, -1, 7)
	for _, name := range []string{NameRobust, NameForest, NameEnsemble} {
		b.Run(name, func(b *testing.B) {
			m := kinds(b)[name]
			for _, p := range pts[:5000] {
				m.Observe(p)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				p := pts[i%len(pts)]
				p.T = t0.Add(time.Duration(5000+i) * 5 * time.Minute)
				m.Observe(p)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "points/s")
			data, _ := m.MarshalBinary()
			b.ReportMetric(float64(len(data)), "state-bytes")
		})
	}
}

// TestRefusesPreviousFormat checks that state saved by earlier releases, whose layout held the
// quiet period after an alarm or lacked the series' quantum, is refused as an unsupported version
// rather than misread: the caller then starts a fresh model. v3-ensemble.model,
// v5-ensemble.model and v7-robust.model were written by such releases.
func TestRefusesPreviousFormat(t *testing.T) {
	for _, file := range []string{"v3-ensemble.model", "v5-ensemble.model", "v7-robust.model"} {
		t.Run(file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", file))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Load(data); !errors.Is(err, ErrVersion) {
				t.Errorf("Load: %v, want %v", err, ErrVersion)
			}
			if _, err := LoadFile(filepath.Join("testdata", file)); !errors.Is(err, ErrVersion) {
				t.Errorf("LoadFile: %v, want %v", err, ErrVersion)
			}
			m := Default()()
			before, _ := m.MarshalBinary()
			if err := m.UnmarshalBinary(data); !errors.Is(err, ErrVersion) {
				t.Errorf("UnmarshalBinary: %v, want %v", err, ErrVersion)
			}
			if after, _ := m.MarshalBinary(); !bytes.Equal(before, after) {
				t.Error("a refused state changed the model")
			}
		})
	}
	m := Default()()
	Train(m, synth(600, -1, 9))
	state, _ := m.MarshalBinary()
	if v := binary.LittleEndian.Uint16(state[len(magic):]); v != formatVersion {
		t.Errorf("saved as version %d, want %d", v, formatVersion)
	}
}
