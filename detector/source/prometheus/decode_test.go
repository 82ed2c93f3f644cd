package prometheus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/smartcloudops/smartcloudops/detector"
)

// decodeEvery decodes body in every way the client does (without and with a label cache, in one
// read and one byte per read) and fails unless all agree. It returns the first.
func decodeEvery(t testing.TB, code int, body []byte) (result, error) {
	t.Helper()
	res, err := decodeResponse(code, bytes.NewReader(body), nil, 0)
	_, cerr := decodeResponse(code, bytes.NewReader(body), &labelCache{}, 0)
	for _, v := range []struct {
		name  string
		r     io.Reader
		cache *labelCache
	}{
		{"cached", bytes.NewReader(body), &labelCache{}},
		{"one byte per read", iotest.OneByteReader(bytes.NewReader(body)), nil},
		{"cached, one byte per read", iotest.OneByteReader(bytes.NewReader(body)), &labelCache{}},
	} {
		if v.cache != nil {
			v.cache.begin()
		}
		r2, err2 := decodeResponse(code, v.r, v.cache, 3)
		// With the cache, a series' labels are checked as JSON first and as labels after, so
		// a malformed one may be reported for another fault, of the same type.
		want := err
		if v.cache != nil {
			want = cerr
		}
		if (want == nil) != (err2 == nil) || (want != nil && err2.Error() != want.Error()) || errType(err2) != errType(err) {
			t.Fatalf("%s: error %v, in one read %v", v.name, err2, want)
		}
		if d := sameSeries(r2.series, res.series); d != "" {
			t.Fatalf("%s: %s", v.name, d)
		}
		if !slices.Equal(r2.warnings, res.warnings) || r2.skipped != res.skipped {
			t.Fatalf("%s: warnings %q skipped %d, in one read %q %d", v.name, r2.warnings, r2.skipped, res.warnings, res.skipped)
		}
	}
	return res, err
}

// errType is the QueryError type the client gives err.
func errType(err error) string {
	if err == nil {
		return ""
	}
	c := &Client{url: "http://prometheus.test"}
	var qe *QueryError
	if !errors.As(c.wrap(context.Background(), "q", err), &qe) {
		return "?"
	}
	return qe.Type
}

// checkLikeReference decodes body and fails unless the result is the reference's.
func checkLikeReference(t *testing.T, code int, body []byte) result {
	t.Helper()
	ref := referenceDecode(code, body)
	res, err := decodeEvery(t, code, body)
	if got := errType(err); got != ref.errType {
		t.Fatalf("error %v (type %q), client_golang: %v (type %q)", err, got, ref.err, ref.errType)
	}
	if err != nil {
		return res
	}
	if d := sameSeries(res.series, ref.series); d != "" {
		t.Fatalf("%s\n got: %v\nwant: %v", d, res.series, ref.series)
	}
	if !slices.Equal(res.warnings, ref.warnings) || res.skipped != ref.skipped {
		t.Fatalf("warnings %q skipped %d, client_golang %q %d", res.warnings, res.skipped, ref.warnings, ref.skipped)
	}
	return res
}

// TestDecodeRealAnswers reads answers captured from Debian's Prometheus 2.42 (node exporter
// series, rates over a range, escaped label values, NaN and infinities, errors) as
// client_golang did.
func TestDecodeRealAnswers(t *testing.T) {
	files, err := filepath.Glob("testdata/answers/*.json")
	if err != nil || len(files) < 10 {
		t.Fatalf("answers: %v, %v", files, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			code, body := readAnswer(t, f)
			checkLikeReference(t, code, body)
		})
	}
}

// readAnswer reads testdata/answers/<name>.<status code>.json.
func readAnswer(t testing.TB, path string) (int, []byte) {
	t.Helper()
	name := strings.TrimSuffix(filepath.Base(path), ".json")
	code, err := strconv.Atoi(name[strings.LastIndexByte(name, '.')+1:])
	if err != nil {
		t.Fatalf("%s: no status code in the name", path)
	}
	body, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return code, body
}

// shapeAnswers are answers Prometheus could send, or that proxies and odd servers do, which the
// decoder must read as client_golang did.
var shapeAnswers = []struct {
	name string
	code int
	body string
}{
	{"vector", 200, vectorBody},
	{"matrix", 200, matrixBody},
	{"scalar", 200, scalarBody},
	{"string", 200, stringBody},
	{"warnings", 200, warningBody},
	{"vector histogram", 200, histBody},
	{"bad data", 400, badDataBody},
	{"execution", 422, execBody},
	{"timeout body on 503", 503, timeoutBody},
	{"not JSON on 502", 502, notJSONBody},
	{"bare error", 400, bareErrorBody},
	{"error envelope on 200", 200, `{"status":"error","errorType":"execution","error":"boom"}`},
	{"error envelope without type on 200", 200, `{"status":"error","error":"boom"}`},
	{"success on 400", 400, `{"status":"success","data":{"resultType":"vector","result":[]}}`},
	{"not JSON on 400", 400, `<html>`},
	{"no content", 204, ``},
	{"redirect code", 302, `{}`},
	{"truncated", 200, `{"status":"success","data":{"resultType":"vector","result":[{"metric":`},
	{"trailing garbage", 200, `{"status":"success","data":{"resultType":"vector","result":[]}} x`},
	{"unknown result type", 200, `{"status":"success","data":{"resultType":"bogus","result":[]}}`},
	{"white space everywhere", 200, " \n{ \"status\" : \"success\" ,\r\n\t\"data\" : { \"resultType\" : \"matrix\" , \"result\" : [ { \"metric\" : { \"a\" : \"b\" } , \"values\" : [ [ 1 , \"2\" ] , [ 2.5 , \"3\" ] ] } ] } }\n"},
	{"keys in another order", 200, `{"data":{"result":[{"value":[1700000000.001,"7"],"metric":{"z":"1","a":"2"}}],"resultType":"vector"},"warnings":["w"],"status":"success"}`},
	{"result before its type, matrix", 200, `{"status":"success","data":{"result":[{"metric":{},"values":[[1,"1"]]}],"resultType":"matrix"}}`},
	{"unknown fields", 200, `{"status":"success","infos":["i"],"data":{"resultType":"vector","result":[{"metric":{"a":"b"},"value":[1,"2"],"extra":{"x":[1,{"y":null}]}}],"stats":{"timings":{"evalTotalTime":0.01}}},"more":[true,false,null,-1.5e-3]}`},
	{"keys in capitals", 200, `{"Status":"success","DATA":{"ResultType":"vector","Result":[{"Metric":{"a":"b"},"VALUE":[1,"2"]}]}}`},
	{"null elements", 200, `{"status":"success","data":{"resultType":"vector","result":[null,{"metric":{"a":"b"},"value":[1,"2"]},null]}}`},
	{"null metric", 200, `{"status":"success","data":{"resultType":"vector","result":[{"metric":null,"value":[1,"2"]}]}}`},
	{"null metric in a matrix", 200, `{"status":"success","data":{"resultType":"matrix","result":[{"metric":null,"values":[[1,"2"]]}]}}`},
	{"no metric", 200, `{"status":"success","data":{"resultType":"vector","result":[{"value":[1,"2"]}]}}`},
	{"null values and histograms", 200, `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"a":"b"},"values":null,"histograms":null}]}}`},
	{"matrix histograms", 200, `{"status":"success","data":{"resultType":"matrix","result":[
		{"metric":{"__name__":"h"},"histograms":[[1,{"count":"1","sum":"2","buckets":[[0,"0","1","1"]]}],[2,{"count":"2","sum":"3"}]]},
		{"metric":{"__name__":"mixed"},"values":[[1,"1"]],"histograms":[[2,{"count":"2","sum":"3"}]]}]}}`},
	{"vector value and histogram", 200, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"1"],"histogram":[1,{"count":"1","sum":"1"}]}]}}`},
	{"vector null histogram", 200, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"histogram":null,"value":[1,"1"]}]}}`},
	{"repeated keys", 200, `{"status":"error","status":"success","data":{"resultType":"matrix","result":[{"metric":{"a":"1","a":"2"},"values":[[2,"2"],[3,"3"]]}]}}`},
	{"repeated data", 200, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"a":"1"},"value":[1,"1"]}]},"data":{"resultType":"vector","result":[]}}`},
	{"escapes", 200, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"a\"\\\/\b\f\n\r\t":"\u00e9\u2603\ud83d\ude00 \ud800 \udc00x \ud83dA","\u0000":"é☃😀"},"value":[1,"1"]}]}}`},
	{"invalid UTF-8 in a label", 200, "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[{\"metric\":{\"a\":\"\xff\xfe ok \xe2\x82\"},\"value\":[1,\"1\"]}]}}"},
	{"timestamps", 200, `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[0,"1"],[-1.5,"1"],[-0.25,"1"],[1.2,"1"],[1.23,"1"],[1.2345678,"1"],[1.1234e5,"1"],[9223372036854775,"1"],[1e2,"1"]]}]}}`},
	{"timestamp with a short exponent", 200, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1.5e3,"1"]}]}}`},
	{"timestamp out of range", 200, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[92233720368547758070,"1"]}]}}`},
	{"values", 200, `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"NaN"],[2,"+Inf"],[3,"-Inf"],[4,"inf"],[5,"1e308"],[6,"1e309"],[7,"-0"],[8,"0x1p-2"],[9,"4.9e-324"],[10,"1_0"]]}]}}`},
	{"value not a number", 200, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"one"]}]}}`},
	{"value escaped", 200, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"\u0031"]}]}}`},
	{"scalar value escaped", 200, `{"status":"success","data":{"resultType":"scalar","result":[1,"\u0031"]}}`},
	{"value unquoted", 200, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,1]}]}}`},
	{"label value a number", 200, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"a":1},"value":[1,"1"]}]}}`},
	{"deep unknown field", 200, `{"status":"success","x":` + strings.Repeat("[", 500) + strings.Repeat("]", 500) + `,"data":{"resultType":"vector","result":[]}}`},
	{"too deep", 200, `{"status":"success","x":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `,"data":{"resultType":"vector","result":[]}}`},
	{"bad literal", 200, `{"status":"success","x":nul,"data":{"resultType":"vector","result":[]}}`},
	{"bad number", 200, `{"status":"success","x":-01,"data":{"resultType":"vector","result":[]}}`},
	{"control character in a string", 200, "{\"status\":\"success\",\"x\":\"a\nb\",\"data\":{\"resultType\":\"vector\",\"result\":[]}}"},
	{"trailing comma", 200, `{"status":"success","data":{"resultType":"vector","result":[],}}`},
}

func TestDecodeLikeClientGolang(t *testing.T) {
	for _, tt := range shapeAnswers {
		t.Run(tt.name, func(t *testing.T) {
			checkLikeReference(t, tt.code, []byte(tt.body))
		})
	}
}

// refusals are answers client_golang made zero values of, or read without their status, and
// the decoder refuses.
var refusals = []struct{ name, body, want string }{
	{"no status", `{"data":{"resultType":"vector","result":[]}}`, "neither success nor error"},
	{"no data", `{"status":"success"}`, "success without data"},
	{"null data", `{"status":"success","data":null}`, "success without data"},
	{"null answer", `null`, "not a JSON object"},
	{"no result", `{"status":"success","data":{"resultType":"vector"}}`, "without a result"},
	{"sample without value", `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"a":"b"}}]}}`, "without value"},
	{"null value", `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":null}]}}`, "want an array"},
	{"short sample", `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1]]}]}}`, "without a value"},
	{"repeated values", `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"1"]],"values":[[2,"2"]]}]}}`, "given twice"},
	{"repeated metric", `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"a":"1"},"metric":{"b":"2"},"value":[2,"2"]}]}}`, "given twice"},
	{"long sample", `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"2",3]}]}}`, "more than a timestamp and a value"},
	{"null label value", `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"a":null},"value":[1,"2"]}]}}`, "not a string"},
	{"unknown key in a matrix", `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"1"]],"new":1}]}}`, "unexpected key"},
	{"empty label name", `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"":"x"},"value":[1,"2"]}]}}`, "empty label name"},
	{"type changed after the result", `{"status":"success","data":{"resultType":"vector","result":[],"resultType":"matrix"}}`, "after a vector result"},
}

func TestDecodeRefusals(t *testing.T) {
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeEvery(t, 200, []byte(tt.body))
			var se *shapeError
			if !errors.As(err, &se) || !strings.Contains(err.Error(), tt.want) || errType(err) != errBadResponse {
				t.Fatalf("error %v, want a bad_response shape error about %q", err, tt.want)
			}
		})
	}
}

func TestDecodeLongStrings(t *testing.T) {
	long := strings.Repeat("é\\\"x", 3*scanWindow/4)
	body := `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"` + long + `":"` + long + `"},"value":[1,"2"]}]}}`
	res := checkLikeReference(t, 200, []byte(body))
	if decoded := strings.ReplaceAll(long, `\"`, `"`); len(res.series) != 1 || res.series[0].Labels[decoded] != decoded {
		t.Fatalf("long label lost: %d series", len(res.series))
	}
}

// TestDecodePointsStayApart appends to one series' points and checks the next series' points
// are not overwritten, though they share one array.
func TestDecodePointsStayApart(t *testing.T) {
	res, err := decodeResponse(200, strings.NewReader(matrixJSON(3, 5)), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	before := res.series[1].Points[0]
	_ = append(res.series[0].Points, detector.Point{V: -1})
	if res.series[1].Points[0] != before {
		t.Fatalf("appending to series 0 changed series 1: %v, was %v", res.series[1].Points[0], before)
	}
	// Many series spread over several arrays keep their own points.
	res, err = decodeResponse(200, strings.NewReader(matrixJSON(300, 60)), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range res.series {
		last, _ := strconv.ParseFloat(fmt.Sprintf("%d.9", i+59), 64)
		if len(s.Points) != 60 || s.Points[0].V != float64(i) || s.Points[59].V != last {
			t.Fatalf("series %d points = %d, first %v, last %v", i, len(s.Points), s.Points[0], s.Points[len(s.Points)-1])
		}
	}
}

// TestLabelCache decodes three answers through one cache: a series that answers again gets its
// map back, a series with changed labels a new one, and a series that left is forgotten.
func TestLabelCache(t *testing.T) {
	var c labelCache
	decode := func(body string) []Series {
		t.Helper()
		c.begin()
		res, err := decodeResponse(200, strings.NewReader(body), &c, 0)
		if err != nil {
			t.Fatal(err)
		}
		c.sweep()
		return res.series
	}
	answer := func(series ...string) string {
		var b strings.Builder
		b.WriteString(`{"status":"success","data":{"resultType":"vector","result":[`)
		for i, s := range series {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"metric":%s,"value":[1,"1"]}`, s)
		}
		b.WriteString(`]}}`)
		return b.String()
	}
	a, b := `{"job":"node","instance":"a"}`, `{"job":"node","instance":"b"}`
	first := decode(answer(a, b))
	second := decode(answer(a, `{"job":"node","instance":"c"}`))
	if !sameMap(first[0].Labels, second[0].Labels) {
		t.Error("the same series got a new label map")
	}
	if second[1].Labels["instance"] != "c" || sameMap(first[1].Labels, second[1].Labels) {
		t.Errorf("a new series got labels %v", second[1].Labels)
	}
	if len(c.m) != 2 {
		t.Errorf("cache holds %d series after an answer with 2", len(c.m))
	}
	if first[0].Labels["job"] != "node" || second[1].Labels["job"] != "node" {
		t.Fatal("labels lost")
	}
	// Series that come in another order than last time are found all the same.
	reordered := decode(answer(`{"job":"node","instance":"c"}`, a))
	if !sameMap(reordered[0].Labels, second[1].Labels) || !sameMap(reordered[1].Labels, first[0].Labels) {
		t.Error("reordered series got new label maps")
	}
	third := decode(answer(b))
	if sameMap(first[1].Labels, third[0].Labels) {
		t.Error("a series that left was remembered")
	}
	if len(c.m) != 1 {
		t.Errorf("cache holds %d series after an answer with 1", len(c.m))
	}
	// A series without labels, vector or matrix, is one shared empty map.
	empty := decode(`{"status":"success","data":{"resultType":"matrix","result":[{"values":[[1,"1"]]},{"metric":{},"values":[[1,"1"]]}]}}`)
	if len(empty) != 2 || len(empty[0].Labels) != 0 || !sameMap(empty[0].Labels, empty[1].Labels) {
		t.Errorf("series without labels = %v", empty)
	}
}

// sameMap reports whether a and b are the same map, not merely equal ones.
func sameMap(a, b map[string]string) bool {
	a["\x00probe"] = "x"
	defer delete(a, "\x00probe")
	return b["\x00probe"] == "x"
}

// TestDecodeReadError tells a body that broke off from one that is malformed: the first is the
// connection's fault, the second the server's.
func TestDecodeReadError(t *testing.T) {
	broken := io.MultiReader(strings.NewReader(`{"status":"success","data":{"resultType":"vector","result":[{"metric":{"a":"b`),
		iotest.ErrReader(io.ErrUnexpectedEOF))
	_, err := decodeResponse(200, broken, nil, 0)
	var re *readError
	if !errors.As(err, &re) || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("error %v, want a read error", err)
	}
	if typ := errType(err); typ != ErrTypeTransport {
		t.Errorf("type %q, want %q", typ, ErrTypeTransport)
	}
	_, err = decodeResponse(400, iotest.ErrReader(io.ErrUnexpectedEOF), nil, 0)
	if !errors.As(err, &re) {
		t.Fatalf("error body: %v, want a read error", err)
	}
}

func TestParseTime(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"1700000000", 1700000000000, true},
		{"1700000000.5", 1700000000500, true},
		{"1700000000.05", 1700000000050, true},
		{"1700000000.123456", 1700000000123, true},
		{"-1.5", -1500, true},
		{"-0.001", -1, true},
		{"1e3", 0, false},
		{"1.5e3", 0, false},
	} {
		got, ok := parseTime([]byte(tt.in))
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseTime(%s) = %d, %v, want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
	if p := time.UnixMilli(-1500); !p.Equal(time.Unix(-1, -500*int64(time.Millisecond))) {
		t.Errorf("negative milliseconds: %v", p)
	}
}
