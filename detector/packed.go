package detector

import "math"

// packedPoint is a Scored as a series' history keeps it, without its time, in 14 bytes: the value
// and the expected value as float32 bits in halves (so the struct needs no 4-byte alignment), the
// distances from the expected value down to the band's lower bound and up to its upper bound as
// bfloat16, and the score as a fraction of [0, 1] in 65,535ths.
type packedPoint struct {
	v, expected  [2]uint16
	below, above uint16
	score        uint16
}

// scoreScale is the packed score of 1.
const scoreScale = math.MaxUint16

// pack packs p, keeping its score on the same side of threshold as it was scored.
func pack(p Scored, threshold float64) packedPoint {
	e := f32(p.Expected)
	base := bandBase(e)
	return packedPoint{v: halves(f32(p.V)), expected: halves(e),
		below: bf16(base - p.Lower), above: bf16(p.Upper - base), score: packScore(p.Score, threshold)}
}

// unpack is the Scored pp keeps, without its time.
func (pp packedPoint) unpack() Scored {
	e := whole(pp.expected)
	base := bandBase(e)
	return Scored{Point: Point{V: float64(whole(pp.v))}, Expected: float64(e),
		Lower: clip32(base - offset(pp.below)), Upper: clip32(base + offset(pp.above)), Score: float64(pp.score) / scoreScale}
}

// bandBase is what the band's distances are measured from: the expected value as kept, or 0 when
// it is not finite.
func bandBase(e float32) float64 {
	if math.IsInf(float64(e), 0) || math.IsNaN(float64(e)) {
		return 0
	}
	return float64(e)
}

// packScore is s in 65,535ths of [0, 1] (NaN as 0), rounded to the nearest, then moved by a
// step where that would put it on the other side of threshold than s.
func packScore(s, threshold float64) uint16 {
	c := s
	switch {
	case math.IsNaN(s) || s < 0:
		c = 0
	case s > 1:
		c = 1
	}
	q := uint16(math.Round(c * scoreScale))
	if s >= threshold {
		for q < scoreScale && float64(q)/scoreScale < threshold {
			q++
		}
	} else {
		for q > 0 && float64(q)/scoreScale >= threshold {
			q--
		}
	}
	return q
}

// bf16 is x as a bfloat16 (float32's exponent, 8 significant bits), rounded to the nearest even;
// a finite x stays finite, the largest bfloat16 where it would round past it.
func bf16(x float64) uint16 {
	f := f32(x)
	b := math.Float32bits(f)
	if f != f {
		return uint16(b>>16) | 0x40 // a quiet NaN, whatever its low bits were
	}
	h := uint16((b + 0x7fff + (b>>16)&1) >> 16)
	if h&0x7f80 == 0x7f80 && !math.IsInf(float64(f), 0) {
		h = h&0x8000 | bf16Max
	}
	return h
}

func unbf16(h uint16) float64 { return float64(math.Float32frombits(uint32(h) << 16)) }

// bf16Max is the largest finite bfloat16, without its sign.
const bf16Max = 0x7f7f

// offset is a band bound's distance from the expected value kept as h; the largest bfloat16
// stands for any distance at least as large, which the bound is then clipped to float32's
// range from, so a band wider than that range is kept as the range rather than wrapped.
func offset(h uint16) float64 {
	if h&0x7fff == bf16Max {
		return math.Copysign(math.MaxFloat64, unbf16(h))
	}
	return unbf16(h)
}

// clip32 clips x to float32's finite range unless it is infinite or NaN already.
func clip32(x float64) float64 { return float64(f32(x)) }

func halves(f float32) [2]uint16 {
	b := math.Float32bits(f)
	return [2]uint16{uint16(b), uint16(b >> 16)}
}

func whole(h [2]uint16) float32 { return math.Float32frombits(uint32(h[0]) | uint32(h[1])<<16) }
