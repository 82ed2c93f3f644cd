package prometheus

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// TestScanNumber reads numbers as the JSON grammar has them, whole or split over reads.
func TestScanNumber(t *testing.T) {
	for _, tt := range []struct {
		in, want, err string
	}{
		{"0", "0", ""},
		{"-0,", "-0", ""},
		{"1700000000.123]", "1700000000.123", ""},
		{"1e5 ", "1e5", ""},
		{"-1.5E+3}", "-1.5E+3", ""},
		{"2e-0", "2e-0", ""},
		{"012", "0", ""}, // what follows is the caller's to refuse
		{"-", "", "unexpected end"},
		{"-x", "", `invalid character 'x' in number at byte 1`},
		{"1.", "", "unexpected end"},
		{"1.e5", "", `invalid character 'e' in number at byte 2`},
		{"1e", "", "unexpected end"},
		{"1e+]", "", `invalid character ']' in number at byte 3`},
		{"x", "", "want a number"},
	} {
		for _, one := range []bool{false, true} {
			var r io.Reader = strings.NewReader(tt.in)
			if one {
				r = iotest.OneByteReader(r)
			}
			s := newScanner(r, make([]byte, 512))
			got, err := s.number()
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("number(%q) = %q, %v, want an error with %q", tt.in, got, err, tt.err)
				}
				continue
			}
			if err != nil || string(got) != tt.want {
				t.Errorf("number(%q) = %q, %v, want %q", tt.in, got, err, tt.want)
			}
		}
	}
}

// TestScanWindowGrows reads a value larger than the window: it grows to hold it.
func TestScanWindowGrows(t *testing.T) {
	long := `"` + strings.Repeat("a", 3000) + `"`
	s := newScanner(iotest.HalfReader(strings.NewReader(`[`+long+`,1]`)), make([]byte, 512))
	if err := s.expect('['); err != nil {
		t.Fatal(err)
	}
	raw, err := s.raw()
	if err != nil || string(raw) != long {
		t.Fatalf("raw = %d bytes, %v", len(raw), err)
	}
	if len(s.buf) < len(long) {
		t.Errorf("window %d bytes", len(s.buf))
	}
}

// TestScanReadError keeps a failed read apart from the end of the input.
func TestScanReadError(t *testing.T) {
	boom := errors.New("connection reset")
	for _, in := range []string{`"abc`, `12.`, `{"a":`, `tr`} {
		s := newScanner(io.MultiReader(strings.NewReader(in), iotest.ErrReader(boom)), nil)
		err := s.skip()
		var re *readError
		if !errors.As(err, &re) || !errors.Is(err, boom) {
			t.Errorf("skip(%q) = %v, want the read error", in, err)
		}
		s = newScanner(strings.NewReader(in), nil)
		var se *syntaxError
		if err := s.skip(); !errors.As(err, &se) || !strings.Contains(err.Error(), "unexpected end") {
			t.Errorf("skip(%q) at the end = %v, want unexpected end", in, err)
		}
	}
}
