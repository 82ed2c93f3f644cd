package prometheus

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"time"

	"github.com/smartcloudops/smartcloudops/detector"
)

// slabSize is how many points share one allocation.
const slabSize = 4096

// decoder holds the scratch space of one decode.
type decoder struct {
	s        *scanner
	key, str []byte
	// cache, when set, maps a series' label object to the map it was decoded to before; strs
	// then belongs to it.
	cache *labelCache
	strs  *interner
	pts   []detector.Point
	res   result
}

func newDecoder(body io.Reader, cache *labelCache, hint int) *decoder {
	d := &decoder{s: newScanner(body, nil), cache: cache, key: make([]byte, 0, 64), str: make([]byte, 0, 64)}
	if cache != nil {
		d.strs = &cache.strs
	} else {
		d.strs = &interner{}
	}
	if hint > 0 {
		d.res.series = make([]Series, 0, hint)
	}
	return d
}

// open consumes c, saying which kind of value was expected when it is not there.
func (d *decoder) open(c byte) error {
	got, err := d.s.peek()
	if err != nil {
		return err
	}
	if got != c {
		want := "an array"
		if c == '{' {
			want = "an object"
		}
		return d.s.shapef("invalid character %q, want %s", got, want)
	}
	d.s.pos++
	return nil
}

// result reads the result of an answer of type typ.
func (d *decoder) result(typ string) error {
	s := d.s
	if typ == "scalar" {
		p, err := d.pair(true)
		if err != nil {
			return err
		}
		d.res.series = append(d.res.series, Series{Labels: map[string]string{}, Points: []detector.Point{p}})
		return nil
	}
	if err := d.open('['); err != nil {
		return err
	}
	for first := true; ; first = false {
		ok, err := s.more(']', first)
		if err != nil || !ok {
			return err
		}
		if null, err := s.isNull(); err != nil {
			return err
		} else if null {
			continue
		}
		if err := d.series(typ == "matrix"); err != nil {
			return err
		}
	}
}

// series reads one element of a vector ({"metric", "value" or "histogram"}) or of a matrix
// ({"metric", "values" and/or "histograms"}).
func (d *decoder) series(matrix bool) error {
	s := d.s
	if err := d.open('{'); err != nil {
		return err
	}
	var labels map[string]string
	start := len(d.pts) // this series' points are d.pts[start:]
	if start == cap(d.pts) {
		d.pts, start = make([]detector.Point, 0, slabSize), 0
	}
	hasValue, histograms := false, 0
	var seen [3]bool // metric, value(s), histogram(s): a repeated one is refused
	for first := true; ; first = false {
		ok, err := s.more('}', first)
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		if d.key, err = s.key(d.key); err != nil {
			return err
		}
		// client_golang reads a vector's samples with encoding/json, which matches keys
		// whatever their case and skips unknown ones, and a matrix's with its own code, which
		// does neither.
		field := -1
		switch {
		case !matrix && bytes.EqualFold(d.key, []byte("metric")), matrix && string(d.key) == "metric":
			field = 0
		case !matrix && bytes.EqualFold(d.key, []byte("value")), matrix && string(d.key) == "values":
			field = 1
		case !matrix && bytes.EqualFold(d.key, []byte("histogram")), matrix && string(d.key) == "histograms":
			field = 2
		}
		if field >= 0 {
			if seen[field] { // #nosec G602 -- field is 0, 1 or 2, set just above; seen has three
				return s.shapef("key %q given twice in one series", d.key)
			}
			seen[field] = true // #nosec G602 -- as above
		}
		switch {
		case field == 0:
			labels, err = d.metric(matrix)
		case field == 1 && !matrix:
			var p detector.Point
			if p, err = d.pair(false); err == nil {
				d.pts = append(d.pts, p)
				hasValue = true
			}
		case field == 1:
			start, err = d.values(start)
		case field == 2 && !matrix:
			// client_golang refuses a null histogram, and skips a sample that has one even
			// when it has a value too.
			var null bool
			if null, err = s.isNull(); err == nil && null {
				err = s.shapef("histogram is null")
			} else if err == nil {
				err = s.skip()
				histograms = 1
			}
		case field == 2:
			histograms, err = d.count()
		case matrix:
			err = s.shapef("unexpected key %q in a matrix series", d.key)
		default:
			err = s.skip()
		}
		if err != nil {
			return err
		}
	}
	if !matrix {
		switch {
		case histograms > 0:
			d.pts = d.pts[:start]
			d.res.skipped++
			return nil
		case !hasValue:
			return s.shapef("vector sample without value or histogram")
		}
	}
	d.res.skipped += histograms
	if len(d.pts) == start {
		return nil // only histograms, or no samples at all
	}
	if labels == nil {
		labels = d.emptyLabels()
	}
	d.res.series = append(d.res.series, Series{Labels: labels, Points: d.pts[start:len(d.pts):len(d.pts)]})
	return nil
}

// values reads [[t, "v"], ...] after d.pts[start:], moving the series to a new array when the
// current one fills up. It returns where the series' points start.
func (d *decoder) values(start int) (int, error) {
	s := d.s
	if null, err := s.isNull(); err != nil || null {
		return start, err
	}
	if err := d.open('['); err != nil {
		return start, err
	}
	for first := true; ; first = false {
		ok, err := s.more(']', first)
		if err != nil || !ok {
			return start, err
		}
		p, err := d.pair(true)
		if err != nil {
			return start, err
		}
		if len(d.pts) == cap(d.pts) {
			run := len(d.pts) - start
			grown := make([]detector.Point, run, max(slabSize, 2*run))
			copy(grown, d.pts[start:])
			d.pts = grown
			start = 0
		}
		d.pts = append(d.pts, p)
	}
}

// count skips an array, or null, and returns how many elements it had.
func (d *decoder) count() (int, error) {
	s := d.s
	if null, err := s.isNull(); err != nil || null {
		return 0, err
	}
	if err := d.open('['); err != nil {
		return 0, err
	}
	n := 0
	for first := true; ; first = false {
		ok, err := s.more(']', first)
		if err != nil || !ok {
			return n, err
		}
		if err := s.skip(); err != nil {
			return n, err
		}
		n++
	}
}

// pair reads [t, "v"]: seconds since the epoch as a number and the value as a string. The
// value of a vector's sample is parsed as it is written, those of a matrix and a scalar are
// unescaped first, as in client_golang.
func (d *decoder) pair(unescape bool) (detector.Point, error) {
	s := d.s
	if err := d.open('['); err != nil {
		return detector.Point{}, err
	}
	if c, err := s.peek(); err != nil {
		return detector.Point{}, err
	} else if c != '-' && (c < '0' || c > '9') {
		return detector.Point{}, s.shapef("sample timestamp must be a number")
	}
	num, err := s.number()
	if err != nil {
		return detector.Point{}, err
	}
	ms, ok := parseTime(num)
	if !ok {
		return detector.Point{}, s.shapef("timestamp %s is not seconds since the epoch", num)
	}
	if c, err := s.peek(); err == nil && c == ']' {
		return detector.Point{}, s.shapef("a sample without a value")
	}
	if err := s.expect(','); err != nil {
		return detector.Point{}, err
	}
	var v []byte
	if c, err := s.peek(); err != nil {
		return detector.Point{}, err
	} else if c != '"' {
		return detector.Point{}, s.shapef("sample value must be a quoted string")
	}
	if unescape {
		d.str, err = s.str(d.str[:0])
		v = d.str
	} else {
		v, err = s.rawStr()
	}
	if err != nil {
		return detector.Point{}, err
	}
	f, perr := strconv.ParseFloat(string(v), 64)
	if perr != nil {
		return detector.Point{}, s.shapef("sample value %q is not a number", v)
	}
	if c, err := s.peek(); err == nil && c == ',' {
		return detector.Point{}, s.shapef("a sample has more than a timestamp and a value")
	}
	if err := s.expect(']'); err != nil {
		return detector.Point{}, err
	}
	return detector.Point{T: time.Unix(ms/1000, (ms%1000)*int64(time.Millisecond)), V: f}, nil
}

// parseTime turns the text of a JSON number of seconds into milliseconds exactly as
// client_golang's model.Time does: whole seconds and at most three decimals, the rest dropped,
// no exponent.
func parseTime(num []byte) (int64, bool) {
	base, frac, dot := bytes.Cut(num, []byte{'.'})
	sec, err := strconv.ParseInt(string(base), 10, 64)
	if err != nil {
		return 0, false
	}
	if !dot {
		return sec * 1000, true
	}
	if len(frac) > 3 {
		frac = frac[:3]
	}
	ms, err := strconv.ParseInt(string(frac), 10, 32)
	if err != nil {
		return 0, false
	}
	switch len(frac) {
	case 1:
		ms *= 100
	case 2:
		ms *= 10
	}
	if len(base) > 0 && base[0] == '-' {
		ms = -ms
	}
	return sec*1000 + ms, true
}

// metric reads a series' label object, or null in a vector (client_golang refuses it in a
// matrix).
func (d *decoder) metric(matrix bool) (map[string]string, error) {
	if null, err := d.s.isNull(); err != nil || null {
		if err == nil && matrix {
			err = d.s.shapef("metric is null")
		}
		return nil, err
	}
	if d.cache == nil {
		return d.labels()
	}
	if c, err := d.s.peek(); err != nil || c != '{' {
		if err == nil {
			err = d.open('{')
		}
		return nil, err
	}
	at := d.s.offset()
	raw, err := d.s.raw()
	if err != nil {
		return nil, err
	}
	if m := d.cache.get(raw); m != nil {
		return m, nil
	}
	outer := d.s
	d.s = bytesScanner(raw)
	m, err := d.labels()
	d.s = outer
	if err != nil {
		// Say where in the answer, as without the cache.
		var se *shapeError
		if errors.As(err, &se) {
			se.offset += at
		}
		return nil, err
	}
	if len(m) == 0 {
		m = d.cache.empty()
	} else {
		d.cache.addExtra(m)
	}
	d.cache.put(raw, m)
	return m, nil
}

// labels reads {"name": "value", ...} into a new map.
func (d *decoder) labels() (map[string]string, error) {
	s := d.s
	if err := d.open('{'); err != nil {
		return nil, err
	}
	m := make(map[string]string)
	for first := true; ; first = false {
		ok, err := s.more('}', first)
		if err != nil || !ok {
			return m, err
		}
		if d.key, err = s.key(d.key); err != nil {
			return nil, err
		}
		if len(d.key) == 0 {
			return nil, s.shapef("empty label name")
		}
		if c, err := s.peek(); err != nil {
			return nil, err
		} else if c != '"' {
			return nil, s.shapef("label %q: value is not a string", d.key)
		}
		if d.str, err = s.str(d.str[:0]); err != nil {
			return nil, err
		}
		m[d.strs.get(d.key)] = d.strs.get(d.str)
	}
}

func (d *decoder) emptyLabels() map[string]string {
	if d.cache != nil {
		return d.cache.empty()
	}
	return map[string]string{}
}
