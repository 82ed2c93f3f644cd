package prometheus

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// fuzzCodes are the status codes a fuzzed answer comes with.
var fuzzCodes = []int{200, 200, 200, 200, 400, 422, 503, 204}

// FuzzDecode holds the decoder to client_golang on any body: it never panics; what it accepts,
// client_golang accepts and reads the same; what client_golang refuses, it refuses with the same
// error type. It may refuse more, but only with a *shapeError (a documented refusal, see
// refusals), or after skipping a native histogram whose contents it does not check.
func FuzzDecode(f *testing.F) {
	for _, a := range shapeAnswers {
		f.Add(uint8(slices.Index(fuzzCodes, a.code)), []byte(a.body))
	}
	for _, r := range refusals {
		f.Add(uint8(0), []byte(r.body))
	}
	files, _ := filepath.Glob("testdata/answers/*.json")
	for _, file := range files {
		code, body := readAnswer(f, file)
		f.Add(uint8(slices.Index(fuzzCodes, code)), body)
	}
	f.Fuzz(func(t *testing.T, c uint8, body []byte) {
		code := fuzzCodes[int(c)%len(fuzzCodes)]
		ref := referenceDecode(code, body)
		res, err := decodeEvery(t, code, body)
		switch {
		case err == nil && ref.errType == "":
			if d := sameSeries(res.series, ref.series); d != "" {
				t.Fatalf("%s\n got: %v\nwant: %v", d, res.series, ref.series)
			}
			if !slices.Equal(res.warnings, ref.warnings) || res.skipped != ref.skipped {
				t.Fatalf("warnings %q skipped %d, client_golang %q %d", res.warnings, res.skipped, ref.warnings, ref.skipped)
			}
		case err == nil:
			// The decoder does not check the contents of a histogram it skips.
			if res.skipped == 0 {
				t.Fatalf("accepted what client_golang refuses: %v", ref.err)
			}
		case ref.errType == "":
			var se *shapeError
			if !errors.As(err, &se) {
				t.Fatalf("refused with %v what client_golang reads as %v", err, ref.series)
			}
		default:
			if got := errType(err); got != ref.errType {
				t.Fatalf("error %v (type %q), client_golang: %v (type %q)", err, got, ref.err, ref.errType)
			}
		}
	})
}

// FuzzDecodeGenerated builds valid answers from the fuzzer's bytes (any label text, escaped or
// not, timestamps and values in every notation the API allows, white space, key orders, unknown
// fields, histograms) and requires the decoder to read each exactly as client_golang does.
func FuzzDecodeGenerated(f *testing.F) {
	f.Add([]byte("vector of two"))
	f.Add([]byte{1, 3, 2, 'a', 'b', 0xff, 0xfe, 7, 9, 200, 13, 0, 5})
	f.Add([]byte("\x02\x05\x03__name__\x00up\x01job\x02node é ☃ \"\\ \x10\x11\x12\x13\x14\x15\x16\x17"))
	f.Add([]byte(strings.Repeat("\x01\x7f\x80\xc0\xe2\x82\xac\xf0\x9f\x98\x80", 30)))
	f.Fuzz(func(t *testing.T, data []byte) {
		body := generateAnswer(&fuzzBytes{b: data})
		ref := referenceDecode(200, []byte(body))
		if ref.errType != "" {
			t.Fatalf("client_golang refuses the generated answer: %v\n%s", ref.err, body)
		}
		res, err := decodeEvery(t, 200, []byte(body))
		if err != nil {
			t.Fatalf("refused: %v\n%s", err, body)
		}
		if d := sameSeries(res.series, ref.series); d != "" {
			t.Fatalf("%s\n got: %v\nwant: %v\n%s", d, res.series, ref.series, body)
		}
		if !slices.Equal(res.warnings, ref.warnings) || res.skipped != ref.skipped {
			t.Fatalf("warnings %q skipped %d, client_golang %q %d", res.warnings, res.skipped, ref.warnings, ref.skipped)
		}
	})
}

// fuzzBytes hands out the fuzzer's bytes, then zeros.
type fuzzBytes struct{ b []byte }

func (f *fuzzBytes) byte() byte {
	if len(f.b) == 0 {
		return 0
	}
	c := f.b[0]
	f.b = f.b[1:]
	return c
}

func (f *fuzzBytes) n(limit int) int { return int(f.byte()) % limit }

func (f *fuzzBytes) text() string {
	n := f.n(12)
	out := make([]byte, 0, n)
	for range n {
		out = append(out, f.byte())
	}
	return string(out)
}

// generateAnswer writes a success answer: a vector, a matrix or a scalar.
func generateAnswer(f *fuzzBytes) string {
	var b strings.Builder
	ws := func() {
		b.WriteString([]string{"", "", "", " ", "\n", "\t ", "\r\n  "}[f.n(7)])
	}
	str := func(s string) { ws(); b.WriteString(quote(f, s)); ws() }
	b.WriteByte('{')
	str("status")
	b.WriteString(":")
	str("success")
	if f.n(3) == 0 {
		b.WriteString(`,"warnings":[`)
		for i := range f.n(3) {
			if i > 0 {
				b.WriteByte(',')
			}
			str(f.text())
		}
		b.WriteString(`]`)
	}
	if f.n(4) == 0 {
		b.WriteString(`,"infos":["i"],"extra":{"a":[1,2.5e-3,null,true,"x"]}`)
	}
	b.WriteString(`,"data":{`)
	typ := []string{"vector", "matrix", "scalar"}[f.n(3)]
	result := func() {
		b.WriteString(`"result":`)
		ws()
		if typ == "scalar" {
			// A scalar's value is unescaped before it is parsed, so it may be escaped.
			fmt.Fprintf(&b, "[%s,%s]", genTime(f), quote(f, genValue(f)))
			return
		}
		b.WriteByte('[')
		for i := range f.n(5) {
			if i > 0 {
				b.WriteByte(',')
			}
			ws()
			genSeries(f, &b, typ == "matrix", ws)
		}
		b.WriteByte(']')
	}
	if f.n(5) == 0 {
		result()
		fmt.Fprintf(&b, `,"resultType":"%s"`, typ)
	} else {
		fmt.Fprintf(&b, `"resultType":"%s",`, typ)
		result()
	}
	if f.n(4) == 0 {
		b.WriteString(`,"stats":{"timings":{"evalTotalTime":0.000123}}`)
	}
	b.WriteString("}}")
	ws()
	return b.String()
}

func genSeries(f *fuzzBytes, b *strings.Builder, matrix bool, ws func()) {
	var members []string
	var labels []string
	seen := map[string]bool{}
	for range f.n(5) {
		name := f.text()
		if name == "" {
			name = "_" // an empty name is refused, see refusals
		}
		if key := strings.ToValidUTF8(name, "\uFFFD"); !seen[key] {
			seen[key] = true
			labels = append(labels, quote(f, name)+":"+quote(f, f.text()))
		}
	}
	m := "{" + strings.Join(labels, ",") + "}"
	if len(labels) == 0 && f.n(4) == 0 && !matrix {
		m = "null"
	}
	members = append(members, `"metric":`+m)
	if matrix {
		var v strings.Builder
		v.WriteString(`"values":[`)
		for i := range f.n(6) {
			if i > 0 {
				v.WriteByte(',')
			}
			fmt.Fprintf(&v, `[%s,%s]`, genTime(f), quote(f, genValue(f)))
		}
		v.WriteByte(']')
		members = append(members, v.String())
		if f.n(4) == 0 {
			members = append(members, `"histograms":[[1,{"count":"1","sum":"2","buckets":[[0,"0","1","1"]]}]]`)
		}
	} else {
		if f.n(6) == 0 {
			members = append(members, `"histogram":[1,{"count":"1","sum":"2","buckets":[[0,"0","1","1"]]}]`)
		} else {
			members = append(members, fmt.Sprintf(`"value":[%s,"%s"]`, genTime(f), genValue(f)))
		}
	}
	if f.n(4) == 0 && !matrix { // client_golang refuses unknown keys in a matrix
		members = append(members, `"unknown":{"x":["y"]}`)
	}
	if f.n(3) == 0 {
		slices.Reverse(members)
	}
	b.WriteByte('{')
	for i, m := range members {
		if i > 0 {
			b.WriteByte(',')
		}
		ws()
		b.WriteString(m)
	}
	b.WriteByte('}')
}

// quote writes s as a JSON string: as encoding/json would, or with every character escaped.
func quote(f *fuzzBytes, s string) string {
	if f.n(3) > 0 || !utf8.ValidString(s) {
		q, _ := json.Marshal(s)
		return string(q)
	}
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		if r > 0xffff {
			r1, r2 := utf16Pair(r)
			fmt.Fprintf(&b, `\u%04x\u%04X`, r1, r2)
			continue
		}
		fmt.Fprintf(&b, `\u%04x`, r)
	}
	b.WriteByte('"')
	return b.String()
}

func utf16Pair(r rune) (rune, rune) {
	r -= 0x10000
	return 0xd800 + (r>>10)&0x3ff, 0xdc00 + r&0x3ff
}

// genTime writes a timestamp in one of the forms a JSON number can take that model.Time reads.
func genTime(f *fuzzBytes) string {
	sec := int64(f.byte())<<24 | int64(f.byte())<<16 | int64(f.byte())<<8 | int64(f.byte())
	if f.n(8) == 0 {
		sec = -sec
	}
	s := strconv.FormatInt(sec, 10)
	if n := f.n(7); n > 0 {
		s += "." + strings.Repeat(strconv.Itoa(f.n(10)), n)
	}
	return s
}

// genValue writes a sample value as Prometheus does, or in another notation ParseFloat reads.
func genValue(f *fuzzBytes) string {
	v := math.Float64frombits(uint64(f.byte())<<56 | uint64(f.byte())<<48 | uint64(f.byte())<<8 | uint64(f.byte()))
	switch f.n(8) {
	case 0:
		return "NaN"
	case 1:
		return "+Inf"
	case 2:
		return "-Inf"
	case 3:
		return strconv.FormatFloat(v, 'e', -1, 64)
	case 4:
		return strconv.Itoa(f.n(256) - 128)
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}
