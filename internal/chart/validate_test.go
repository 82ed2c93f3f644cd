package chart

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func TestRenderErrors(t *testing.T) {
	nan := math.NaN()
	good := func() Series { return fixture(10, 3, 5) }
	with := func(f func(*Series)) Series {
		s := good()
		f(&s)
		return s
	}

	tests := []struct {
		name string
		s    Series
		o    Options
		is   error
		msgs []string // each must appear in the error text
	}{
		{"no points", Series{Title: "cpu"}, Options{}, ErrNoData, []string{`chart "cpu"`, "no points"}},
		{"no finite values", with(func(s *Series) {
			for i := range s.Values {
				s.Values[i] = nan
			}
		}), Options{}, ErrNoData, []string{"none of the 10 values is finite"}},
		{"values shorter", with(func(s *Series) { s.Values = s.Values[:7] }), Options{}, ErrInvalidSeries,
			[]string{"Values has 7 points, Times has 10"}},
		{"values nil", with(func(s *Series) { s.Values = nil }), Options{}, ErrInvalidSeries,
			[]string{"Values has 0 points, Times has 10"}},
		{"expected longer", with(func(s *Series) { s.Expected = append(s.Expected, 1) }), Options{}, ErrInvalidSeries,
			[]string{"Expected has 11 points, Times has 10"}},
		{"lower without upper", with(func(s *Series) { s.Upper = nil }), Options{}, ErrInvalidSeries,
			[]string{"Lower and Upper must be set together"}},
		{"upper without lower", with(func(s *Series) { s.Lower = nil }), Options{}, ErrInvalidSeries,
			[]string{"Lower and Upper must be set together"}},
		{"band lengths", with(func(s *Series) { s.Lower = s.Lower[:2]; s.Upper = s.Upper[:9] }), Options{}, ErrInvalidSeries,
			[]string{"Lower has 2 points, Times has 10", "Upper has 9 points, Times has 10"}},
		{"zero time", with(func(s *Series) { s.Times[4] = time.Time{} }), Options{}, ErrInvalidSeries,
			[]string{"Times[4] is the zero time"}},
		{"times out of order", with(func(s *Series) { s.Times[6], s.Times[7] = s.Times[7], s.Times[6] }), Options{}, ErrInvalidSeries,
			[]string{"Times[7] (2026-11-25T13:06:00Z) is before Times[6] (2026-11-25T13:07:00Z)"}},
		{"inverted band", with(func(s *Series) { s.Lower[2] = 70 }), Options{}, ErrInvalidSeries,
			[]string{"Lower[2] = 70 is above Upper[2] = 60"}},
		{"span ends before it starts", with(func(s *Series) { s.SpanStart, s.SpanEnd = s.SpanEnd, s.SpanStart }), Options{}, ErrInvalidSeries,
			[]string{"SpanEnd (2026-11-25T13:03:00Z) is before SpanStart (2026-11-25T13:05:00Z)"}},
		{"span end without start", with(func(s *Series) { s.SpanStart = time.Time{} }), Options{}, ErrInvalidSeries,
			[]string{"SpanEnd (2026-11-25T13:05:00Z) is set without SpanStart"}},
		{"every problem at once", with(func(s *Series) {
			s.Values = s.Values[:1]
			s.Expected = s.Expected[:2]
			s.Times[9] = time.Time{}
		}), Options{}, ErrInvalidSeries,
			[]string{"Values has 1 points", "Expected has 2 points", "Times[9] is the zero time"}},
		{"many index problems are capped", with(func(s *Series) {
			for i := range s.Lower {
				s.Lower[i] = 100
			}
		}), Options{}, ErrInvalidSeries,
			[]string{"Lower[4] = 100 is above", "5 more inverted bounds not listed"}},
		{"negative width", good(), Options{Width: -1}, ErrInvalidOptions, []string{"Width -1 outside [240, 4096]"}},
		{"too narrow", good(), Options{Width: 100}, ErrInvalidOptions, []string{"Width 100 outside"}},
		{"too tall", good(), Options{Height: 5000}, ErrInvalidOptions, []string{"Height 5000 outside [120, 4096]"}},
		{"both sizes bad", good(), Options{Width: 1, Height: 1}, ErrInvalidOptions, []string{"Width 1", "Height 1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Render(tt.s, tt.o)
			if err == nil {
				t.Fatalf("Render succeeded with %d bytes, want an error", len(b))
			}
			if !errors.Is(err, tt.is) {
				t.Errorf("error %q does not wrap %v", err, tt.is)
			}
			for _, m := range tt.msgs {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not mention %q", err, m)
				}
			}
			if b != nil {
				t.Errorf("Render returned %d bytes along with an error", len(b))
			}
		})
	}
}

// TestRenderErrorsCapped checks that a long series with a systematic fault
// yields a short error.
func TestRenderErrorsCapped(t *testing.T) {
	s := fixture(10_000, -1, -1)
	for i := range s.Times {
		s.Times[i] = time.Time{}
	}
	_, err := Render(s, Options{})
	if !errors.Is(err, ErrInvalidSeries) {
		t.Fatalf("err = %v, want ErrInvalidSeries", err)
	}
	if n := strings.Count(err.Error(), "\n") + 1; n > maxIndexErrors+2 {
		t.Errorf("error has %d lines, want at most %d:\n%v", n, maxIndexErrors+2, err)
	}
	if !strings.Contains(err.Error(), "9995 more zero times not listed") {
		t.Errorf("error does not summarise the rest: %v", err)
	}
}
