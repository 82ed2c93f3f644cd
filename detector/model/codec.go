package model

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"

	"github.com/smartcloudops/smartcloudops/detector"
)

// State layout: magic, format version, model name, parameters, then the model state. Every
// number is little-endian; floats of the profiles, histograms and recent values are float32.
const (
	magic = "SCOM"
	// formatVersion is the layout written. Version 7 dropped the quiet period after an alarm,
	// the state that depended on it and the slow mean, and added the clean ranges; version 8
	// added the series' quantum; version 9 added the shape part's state after the quantum.
	formatVersion = 9
	// oldestVersion is the oldest layout read: state of version 8 loads with an empty shape part,
	// which fills its history again as the series goes on. State of an earlier version is refused
	// with ErrVersion, and the caller starts a fresh model.
	oldestVersion = 8
)

// Errors returned when restoring state.
var (
	// ErrNotModel means the bytes do not start with a SmartCloudOps model header.
	ErrNotModel = errors.New("not a smartcloudops model (bad magic)")
	// ErrVersion means the state was written by an unsupported format version.
	ErrVersion = errors.New("unsupported model format version")
	// ErrMismatch means the state belongs to a different kind of model.
	ErrMismatch = errors.New("model kind mismatch")
	// ErrCorrupt means the state is truncated, has trailing bytes or holds impossible values.
	ErrCorrupt = errors.New("corrupt model state")
)

type writer struct{ b []byte }

func (w *writer) u8(v uint8)    { w.b = append(w.b, v) }
func (w *writer) u16(v uint16)  { w.b = binary.LittleEndian.AppendUint16(w.b, v) }
func (w *writer) u32(v uint32)  { w.b = binary.LittleEndian.AppendUint32(w.b, v) }
func (w *writer) i64(v int64)   { w.b = binary.LittleEndian.AppendUint64(w.b, uint64(v)) }
func (w *writer) f64(v float64) { w.b = binary.LittleEndian.AppendUint64(w.b, math.Float64bits(v)) }
func (w *writer) f32(v float32) { w.b = binary.LittleEndian.AppendUint32(w.b, math.Float32bits(v)) }

type reader struct {
	b   []byte
	err error
}

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if len(r.b) < n {
		r.err = fmt.Errorf("%w: truncated", ErrCorrupt)
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) u8() uint8 {
	if b := r.take(1); b != nil {
		return b[0]
	}
	return 0
}

func (r *reader) u16() uint16 {
	if b := r.take(2); b != nil {
		return binary.LittleEndian.Uint16(b)
	}
	return 0
}

func (r *reader) u32() uint32 {
	if b := r.take(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

func (r *reader) i64() int64 {
	if b := r.take(8); b != nil {
		return int64(binary.LittleEndian.Uint64(b))
	}
	return 0
}

// f64 reads a float64 that must be finite.
func (r *reader) f64() float64 {
	b := r.take(8)
	if b == nil {
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(b))
	if !detector.Valid(v) && r.err == nil {
		r.err = fmt.Errorf("%w: non-finite number", ErrCorrupt)
	}
	return v
}

func (r *reader) f32() float32 {
	b := r.take(4)
	if b == nil {
		return 0
	}
	v := math.Float32frombits(binary.LittleEndian.Uint32(b))
	if !detector.Valid(float64(v)) && r.err == nil {
		r.err = fmt.Errorf("%w: non-finite number", ErrCorrupt)
	}
	return v
}

// header reads and checks the magic and version and returns the model name and the version.
func header(data []byte) (string, uint16, *reader, error) {
	r := &reader{b: data}
	if m := r.take(len(magic)); r.err != nil || string(m) != magic {
		return "", 0, nil, ErrNotModel
	}
	v := r.u16()
	if r.err == nil && (v < oldestVersion || v > formatVersion) {
		return "", 0, nil, fmt.Errorf("%w %d (this build reads %d to %d)", ErrVersion, v, oldestVersion, formatVersion)
	}
	b := r.take(int(r.u8()))
	if r.err != nil {
		return "", 0, nil, r.err
	}
	// The name returned is the package's own constant, not a copy per loaded model.
	for _, name := range [...]string{NameRobust, NameForest, NameEnsemble} {
		if string(b) == name {
			return name, v, r, nil
		}
	}
	return "", 0, nil, fmt.Errorf("%w: unknown model %q", ErrCorrupt, b)
}

// floatParams lists the float parameters in their saved order.
func floatParams(p *Params) []*float64 {
	return []*float64{&p.LevelRate, &p.TrendRate, &p.DayRate, &p.WeekRate, &p.TrendDamping,
		&p.ScaleRate, &p.SlowScaleRate, &p.Clip, &p.ShiftRate, &p.TailRate, &p.Band, &p.RangeRate, &p.Margin}
}

// MarshalBinary implements encoding.BinaryMarshaler.
func (e *engine) MarshalBinary() ([]byte, error) {
	w := &writer{b: make([]byte, 0, 4096)}
	w.b = append(w.b, magic...)
	w.u16(formatVersion)
	w.u8(uint8(len(e.name)))
	w.b = append(w.b, e.name...)
	p := e.p
	w.u32(uint32(p.Warmup))
	for _, v := range floatParams(&p) {
		w.f64(*v)
	}
	w.u32(uint32(p.Trees))
	w.u32(uint32(p.Refit))
	w.u32(uint32(p.Stride))

	b := &e.base
	w.u32(b.n)
	w.i64(b.first)
	w.i64(b.last)
	w.u16(b.dayBins)
	for _, v := range []float64{b.spacing, b.level, b.trend, b.flat, b.scale, b.slowScale, b.seasErr, b.flatErr, b.prev, e.smooth, e.vol, e.calm} {
		w.f64(v)
	}
	for _, x := range [...]*[stats]extreme{&e.ext, &e.lagged, &e.clean, &e.cleanLag} {
		for _, r := range x {
			w.f64(r.hi)
			w.f64(r.lo)
		}
	}
	for _, v := range e.excursion {
		w.u16(v)
	}
	w.f64(e.held)
	w.f64(e.quantum)
	if e.useStats {
		sh := &e.shape
		w.f64(sh.sum)
		w.u8(sh.k)
		w.f64(sh.score)
		w.u16(sh.n)
		w.u16(sh.at)
		w.u32(sh.seen)
		w.u8(sh.inside)
		w.f64(sh.sm)
		w.f64(sh.mu)
		w.f64(sh.m2)
		for _, v := range sh.ring[:sh.n] {
			w.f32(v)
		}
	}
	for _, v := range b.dayProf[:b.dayBins] {
		w.f32(v)
	}
	if b.first != b.last {
		for _, v := range b.weekProf {
			w.f32(v)
		}
	}
	if e.useForest {
		w.u32(e.forest.sinceFit)
		w.u32(e.forest.strideAt)
		t := &e.forest.tail
		w.f32(t.weight)
		for _, c := range t.count {
			w.f32(c)
		}
		f := &e.forest.trees
		fitted := uint8(0)
		if f.fitted {
			fitted = 1
		}
		w.u8(fitted)
		w.u16(f.ringN)
		w.u16(f.ringAt)
		for _, v := range f.ring[:f.ringN] {
			for _, q := range v {
				w.u16(uint16(q))
			}
		}
		if f.fitted {
			for t := range p.Trees {
				for _, nd := range f.trees[t] {
					w.u8(nd.f)
					w.u16(uint16(nd.v))
				}
			}
		}
	}
	return w.b, nil
}

// UnmarshalBinary implements encoding.BinaryUnmarshaler. It accepts only state written by a model
// of the same kind, and leaves the model unchanged when it returns an error.
func (e *engine) UnmarshalBinary(data []byte) error {
	name, version, r, err := header(data)
	if err != nil {
		return err
	}
	if name != e.name {
		return fmt.Errorf("%w: state is for a %q model, this is a %q model", ErrMismatch, name, e.name)
	}
	n := newEngine(name, Params{})
	p := &n.p
	p.Warmup = int(r.u32())
	for _, v := range floatParams(p) {
		*v = r.f64()
	}
	p.Trees = int(r.u32())
	p.Refit = int(r.u32())
	p.Stride = int(r.u32())
	if r.err != nil {
		return r.err
	}
	if err := p.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	b := &n.base
	b.n = r.u32()
	b.first = r.i64()
	b.last = r.i64()
	b.dayBins = r.u16()
	if b.dayBins > maxDayBins || (b.dayBins != 0 && b.dayBins < 24) {
		return fmt.Errorf("%w: %d time-of-day bins", ErrCorrupt, b.dayBins)
	}
	for _, v := range []*float64{&b.spacing, &b.level, &b.trend, &b.flat, &b.scale, &b.slowScale, &b.seasErr, &b.flatErr, &b.prev, &n.smooth, &n.vol, &n.calm} {
		*v = r.f64()
	}
	for _, x := range [...]*[stats]extreme{&n.ext, &n.lagged, &n.clean, &n.cleanLag} {
		for i := range x {
			x[i].hi = r.f64()
			x[i].lo = r.f64()
		}
	}
	for i := range n.excursion {
		n.excursion[i] = r.u16()
		if n.excursion[i] > n.excursionPoints() && r.err == nil {
			r.err = fmt.Errorf("%w: excursion of %d points", ErrCorrupt, n.excursion[i])
		}
	}
	n.held = r.f64()
	if !(n.held >= 0 && n.held <= maxValue) && r.err == nil {
		r.err = fmt.Errorf("%w: held scale %v", ErrCorrupt, n.held)
	}
	n.quantum = r.f64()
	if !(n.quantum >= 0 && n.quantum <= 2*maxValue) && r.err == nil {
		r.err = fmt.Errorf("%w: quantum %v", ErrCorrupt, n.quantum)
	}
	if n.useStats && version >= 9 {
		readShape(r, &n.shape)
	}
	for i := range b.dayProf[:b.dayBins] {
		b.dayProf[i] = r.f32()
	}
	if b.first != b.last {
		for i := range b.weekProf {
			b.weekProf[i] = r.f32()
		}
	}
	if n.useForest {
		n.forest.sinceFit = r.u32()
		n.forest.strideAt = r.u32()
		t := &n.forest.tail
		t.weight = r.f32()
		for i := range t.count {
			t.count[i] = r.f32()
		}
		f := &n.forest.trees
		f.fitted = r.u8() == 1
		f.ringN = r.u16()
		f.ringAt = r.u16()
		if f.ringN > ringSize || f.ringAt >= ringSize {
			return fmt.Errorf("%w: forest sample %d/%d", ErrCorrupt, f.ringAt, f.ringN)
		}
		for i := range f.ring[:f.ringN] {
			for j := range f.ring[i] {
				f.ring[i][j] = int16(r.u16())
			}
		}
		if f.fitted {
			for t := range p.Trees {
				for i := range f.trees[t] {
					f.trees[t][i] = node{f: r.u8(), v: int16(r.u16())}
				}
				if err := checkTree(&f.trees[t]); err != nil && r.err == nil {
					r.err = err
				}
			}
		}
	}
	if r.err != nil {
		return r.err
	}
	if len(r.b) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", ErrCorrupt, len(r.b))
	}
	*e = *n
	return nil
}

// readShape reads the shape part's state into sh, setting r.err when it is impossible.
func readShape(r *reader, sh *shape) {
	sh.sum = r.f64()
	sh.k = r.u8()
	sh.score = r.f64()
	sh.n = r.u16()
	sh.at = r.u16()
	sh.seen = r.u32()
	sh.inside = r.u8()
	sh.sm = r.f64()
	sh.mu = r.f64()
	sh.m2 = r.f64()
	if r.err != nil {
		return
	}
	switch {
	case sh.k >= shapeSeg || math.Abs(sh.sum) > shapeSeg*maxValue || sh.inside > shapeSeg*shapeWin:
		r.err = fmt.Errorf("%w: shape segment of %d points summing to %v, %d inside", ErrCorrupt, sh.k, sh.sum, sh.inside)
	case !(sh.score >= 0 && sh.score <= 1):
		r.err = fmt.Errorf("%w: shape score %v", ErrCorrupt, sh.score)
	case sh.n > shapeRing || sh.at >= shapeRing || (sh.n < shapeRing && sh.at != sh.n):
		r.err = fmt.Errorf("%w: shape history %d/%d", ErrCorrupt, sh.at, sh.n)
	case sh.seen > 0 && sh.n < shapeRing:
		r.err = fmt.Errorf("%w: shape calibration before its history is full", ErrCorrupt)
	case !(sh.m2 >= 0):
		r.err = fmt.Errorf("%w: shape calibration %v", ErrCorrupt, sh.m2)
	}
	for i := range sh.ring[:sh.n] {
		sh.ring[i] = r.f32()
	}
}

// checkTree verifies that every path from the root ends in a leaf within the depth limit and
// that splits name real features, so scoring a restored tree cannot run off the array.
func checkTree(tr *[treeNodes]node) error {
	var walk func(i, depth int) error
	walk = func(i, depth int) error {
		nd := tr[i]
		if nd.f == leafMark {
			if nd.v < 0 || nd.v > treeSample {
				return fmt.Errorf("%w: leaf size %d", ErrCorrupt, nd.v)
			}
			return nil
		}
		if depth >= treeDepth || int(nd.f) >= features {
			return fmt.Errorf("%w: tree node %d", ErrCorrupt, i)
		}
		if err := walk(2*i+1, depth+1); err != nil {
			return err
		}
		return walk(2*i+2, depth+1)
	}
	return walk(0, 0)
}

// Load restores a model of any kind from the output of its MarshalBinary.
func Load(data []byte) (detector.Model, error) {
	name, _, _, err := header(data)
	if err != nil {
		return nil, fmt.Errorf("load model: %w", err)
	}
	m := newEngine(name, DefaultParams())
	if err := m.UnmarshalBinary(data); err != nil {
		return nil, fmt.Errorf("load %s model: %w", name, err)
	}
	return m, nil
}

// LoadFile reads a model file written by SaveFile (or `smartcloudops detect train`) and returns
// a factory whose every call yields an independent copy of the trained model.
func LoadFile(path string) (detector.Factory, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load model file: %w", err)
	}
	m, err := Load(data)
	if err != nil {
		return nil, fmt.Errorf("model file %s: %w", path, err)
	}
	// The engine holds only values and fixed-size arrays, so a struct copy is a deep copy.
	proto := *m.(*engine)
	return func() detector.Model {
		c := proto
		return &c
	}, nil
}

// SaveFile writes m's state to path, replacing the file atomically.
func SaveFile(path string, m detector.Model) error {
	data, err := m.MarshalBinary()
	if err != nil {
		return fmt.Errorf("save model %s: %w", m.Name(), err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("save model file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("save model file: %w", err)
	}
	return nil
}

// Train fits m on history by observing every point in order, so a trained model starts scoring
// without a warm-up. It returns how many points were skipped as NaN or infinite.
func Train(m detector.Model, history []detector.Point) (skipped int) {
	for _, p := range history {
		if !detector.Valid(p.V) {
			skipped++
			continue
		}
		m.Observe(p)
	}
	return skipped
}
