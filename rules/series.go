package rules

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// maxSeriesPoints caps the points one expanded series may hold.
const maxSeriesPoints = 100_000

// Point is one value of an expanded test series; Missing marks "_" and "stale".
type Point struct {
	Value   float64
	Missing bool
}

// ParseSeries expands the promtool series notation: "a" is one value, "a+bxn" is a, a+b, …,
// a+n·b (n+1 values), "a-bxn" counts down, "axn" repeats a n+1 times, "_" is a missing point,
// "_xn" n missing points and "stale" marks the series absent (a missing point for rules).
func ParseSeries(s string) ([]Point, error) {
	var out []Point
	for _, tok := range strings.Fields(s) {
		pts, err := expandToken(tok)
		if err != nil {
			return nil, fmt.Errorf("series %q: %w", s, err)
		}
		if len(out)+len(pts) > maxSeriesPoints {
			return nil, fmt.Errorf("series %q: more than %d points", s, maxSeriesPoints)
		}
		out = append(out, pts...)
	}
	return out, nil
}

func expandToken(tok string) ([]Point, error) {
	switch tok {
	case "_":
		return []Point{{Missing: true}}, nil
	case "stale":
		return []Point{{Missing: true}}, nil
	}
	base, count, hasX := tok, 0, false
	if i := strings.LastIndexByte(tok, 'x'); i > 0 && !strings.HasPrefix(tok, "0x") {
		n, err := strconv.Atoi(tok[i+1:])
		if err != nil || n < 0 {
			return nil, fmt.Errorf("bad repeat count in %q", tok)
		}
		if n > maxSeriesPoints {
			return nil, fmt.Errorf("repeat count %d in %q is too large", n, tok)
		}
		base, count, hasX = tok[:i], n, true
	}
	if base == "_" {
		if !hasX {
			return nil, fmt.Errorf("bad value %q", tok)
		}
		out := make([]Point, count)
		for i := range out {
			out[i].Missing = true
		}
		return out, nil
	}
	start, step := base, "0"
	if hasX {
		for i := 1; i < len(base); i++ {
			if (base[i] == '+' || base[i] == '-') && base[i-1] != 'e' && base[i-1] != 'E' {
				start, step = base[:i], base[i:]
				break
			}
		}
	}
	a, err := parseValue(start)
	if err != nil {
		return nil, fmt.Errorf("bad value %q", tok)
	}
	b, err := parseValue(strings.TrimPrefix(step, "+"))
	if err != nil {
		return nil, fmt.Errorf("bad step in %q", tok)
	}
	if !hasX {
		return []Point{{Value: a}}, nil
	}
	out := make([]Point, count+1)
	for i := range out {
		out[i].Value = a + float64(i)*b
	}
	return out, nil
}

func parseValue(s string) (float64, error) {
	switch strings.ToLower(s) {
	case "inf", "+inf":
		return math.Inf(1), nil
	case "-inf":
		return math.Inf(-1), nil
	case "nan":
		return math.NaN(), nil
	}
	return strconv.ParseFloat(s, 64)
}
