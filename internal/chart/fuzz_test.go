package chart

import (
	"encoding/binary"
	"errors"
	"math"
	"testing"
	"time"
)

// FuzzRender feeds Render arbitrary numbers, times, spans and sizes: values
// come from a detector fed by outside metrics, so any float64 may arrive.
// Render may refuse the input but must not panic, and what it accepts must
// be a PNG of the requested size.
func FuzzRender(f *testing.F) {
	f.Add(floatBytes(1, 50, 40, 60, 2, 50, 40, 60, 90, 50, 40, 60), uint16(0), uint16(0), int16(1), int16(2), uint8(0b0111))
	f.Add(floatBytes(math.NaN(), 0, 0, 0, math.Inf(1), 1, 2, 3, 5, math.NaN(), 1, math.Inf(-1)), uint16(300), uint16(150), int16(0), int16(-1), uint8(0b0111))
	f.Add(floatBytes(math.MaxFloat64, 0, 0, 0, -math.MaxFloat64, 0, 0, 0), uint16(800), uint16(360), int16(-5), int16(5), uint8(0b0001))
	f.Add(floatBytes(7, 7, 7, 7), uint16(240), uint16(120), int16(0), int16(0), uint8(0b1111))
	f.Add([]byte{}, uint16(0), uint16(0), int16(0), int16(0), uint8(0))
	f.Add(floatBytes(1, 2, 3, 4, 5, 6, 7, 8), uint16(100), uint16(9000), int16(3), int16(1), uint8(0b1000))

	f.Fuzz(func(t *testing.T, raw []byte, w, h uint16, spanA, spanB int16, flags uint8) {
		const perPoint = 4 // value, expected, lower, upper
		nums := make([]float64, len(raw)/8)
		for i := range nums {
			nums[i] = math.Float64frombits(binary.LittleEndian.Uint64(raw[i*8:]))
		}
		n := len(nums) / perPoint
		step := time.Duration(1+int(flags>>4)) * 7 * time.Second
		s := Series{Title: "fuzz", Unit: "u"}
		for i := range n {
			tm := t0.Add(time.Duration(i) * step)
			if flags&0b1000 != 0 && i%3 == 2 {
				tm = t0 // out of order from the third point on
			}
			s.Times = append(s.Times, tm)
			s.Values = append(s.Values, nums[i*perPoint])
			if flags&0b0010 != 0 {
				s.Expected = append(s.Expected, nums[i*perPoint+1])
			}
			if flags&0b0100 != 0 {
				s.Lower = append(s.Lower, nums[i*perPoint+2])
				s.Upper = append(s.Upper, nums[i*perPoint+3])
			}
		}
		if flags&0b0001 != 0 {
			s.SpanStart = t0.Add(time.Duration(spanA) * step)
			if spanB >= 0 {
				s.SpanEnd = t0.Add(time.Duration(spanB) * step)
			}
		}
		o := Options{Width: int(w) % 1500, Height: int(h) % 1000}

		b, err := Render(s, o)
		if err != nil {
			if !errors.Is(err, ErrInvalidSeries) && !errors.Is(err, ErrNoData) && !errors.Is(err, ErrInvalidOptions) {
				t.Fatalf("error %q wraps none of the package's sentinels", err)
			}
			return
		}
		wantW, wantH, _ := o.size()
		if got := decode(t, b).Bounds().Size(); got.X != wantW || got.Y != wantH {
			t.Fatalf("image is %dx%d, want %dx%d", got.X, got.Y, wantW, wantH)
		}
	})
}

func floatBytes(vs ...float64) []byte {
	b := make([]byte, 0, 8*len(vs))
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
	}
	return b
}
