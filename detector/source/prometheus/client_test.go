package prometheus

import (
	"context"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smartcloudops/smartcloudops/detector"
)

// fakeProm speaks the Prometheus HTTP API on loopback: it answers each query from a table and
// records what it was sent.
type fakeProm struct {
	mu       sync.Mutex
	requests []recorded
	// answers maps a PromQL text to the status code and JSON body to send back.
	answers map[string]answer
	// delay holds every answer this long (or until the request ends).
	delay time.Duration
}

type answer struct {
	code int
	body string
}

type recorded struct {
	path   string
	form   map[string]string
	auth   string
	agent  string
	method string
}

func (f *fakeProm) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rec := recorded{path: r.URL.Path, form: map[string]string{}, auth: r.Header.Get("Authorization"),
		agent: r.Header.Get("User-Agent"), method: r.Method}
	for k := range r.Form {
		rec.form[k] = r.Form.Get(k)
	}
	f.mu.Lock()
	f.requests = append(f.requests, rec)
	a, ok := f.answers[r.Form.Get("query")]
	delay := f.delay
	f.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	if !ok {
		a = answer{400, `{"status":"error","errorType":"bad_data","error":"unknown query in fake"}`}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(a.code)
	_, _ = io.WriteString(w, a.body)
}

func (f *fakeProm) last(t *testing.T) recorded {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.requests) == 0 {
		t.Fatal("fake Prometheus received no request")
	}
	return f.requests[len(f.requests)-1]
}

func newFake(t *testing.T, answers map[string]answer) (*fakeProm, *httptest.Server) {
	t.Helper()
	f := &fakeProm{answers: answers}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func newClient(t *testing.T, o Options) *Client {
	t.Helper()
	if o.Logger == nil {
		o.Logger = discard()
	}
	c, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

const (
	vectorBody = `{"status":"success","data":{"resultType":"vector","result":[
		{"metric":{"__name__":"up","job":"node","instance":"a:9100"},"value":[1700000000.5,"1"]},
		{"metric":{"__name__":"up","job":"node","instance":"b:9100"},"value":[1700000000.5,"0"]}]}}`
	matrixBody = `{"status":"success","data":{"resultType":"matrix","result":[
		{"metric":{"mode":"idle"},"values":[[1700000000,"1.5"],[1700000015,"2.5"],[1700000030,"NaN"]]},
		{"metric":{"mode":"user"},"values":[[1700000000,"0.25"]]}]}}`
	scalarBody  = `{"status":"success","data":{"resultType":"scalar","result":[1700000000,"42"]}}`
	stringBody  = `{"status":"success","data":{"resultType":"string","result":[1700000000,"hello"]}}`
	warningBody = `{"status":"success","warnings":["results truncated"],"data":{"resultType":"vector","result":[]}}`
	histBody    = `{"status":"success","data":{"resultType":"vector","result":[
		{"metric":{"__name__":"h"},"histogram":[1700000000,{"count":"1","sum":"2","buckets":[[0,"0","1","1"]]}]},
		{"metric":{"__name__":"f"},"value":[1700000000,"3"]}]}}`
	badDataBody   = `{"status":"error","errorType":"bad_data","error":"1:5: parse error: unexpected end of input"}`
	execBody      = `{"status":"error","errorType":"execution","error":"query processing would load too many samples"}`
	timeoutBody   = `{"status":"error","errorType":"timeout","error":"query timed out in expression evaluation"}`
	notJSONBody   = `<html>bad gateway</html>`
	bareErrorBody = `{"status":"error"}`
)

var t0 = time.Unix(1700000000, 0)

func TestInstant(t *testing.T) {
	f, srv := newFake(t, map[string]answer{
		"up":            {200, vectorBody},
		"scalar(1)":     {200, scalarBody},
		`"hello"`:       {200, stringBody},
		"count(up)":     {200, warningBody},
		"h or f":        {200, histBody},
		"up{":           {400, badDataBody},
		"sum(big)":      {422, execBody},
		"slow":          {503, timeoutBody},
		"proxy":         {502, notJSONBody},
		"empty_error":   {400, bareErrorBody},
		"inconsistent":  {200, `{"status":"error","errorType":"execution","error":"boom"}`},
		"garbage_json":  {200, `{"status":"success","data":{"resultType":"vector","result":[{"metric":`},
		"unknown_type":  {200, `{"status":"success","data":{"resultType":"bogus","result":[]}}`},
		"empty_vector":  {200, `{"status":"success","data":{"resultType":"vector","result":[]}}`},
		"name_and_more": {200, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000,"+Inf"]}]}}`},
	})
	c := newClient(t, Options{URL: srv.URL})
	tests := []struct {
		query   string
		want    []Series
		errType string
	}{
		{query: "up", want: []Series{
			{Labels: map[string]string{"__name__": "up", "job": "node", "instance": "a:9100"}, Points: []detector.Point{{T: t0.Add(500 * time.Millisecond), V: 1}}},
			{Labels: map[string]string{"__name__": "up", "job": "node", "instance": "b:9100"}, Points: []detector.Point{{T: t0.Add(500 * time.Millisecond), V: 0}}},
		}},
		{query: "scalar(1)", want: []Series{{Labels: map[string]string{}, Points: []detector.Point{{T: t0, V: 42}}}}},
		{query: "count(up)", want: []Series{}},
		{query: "empty_vector", want: []Series{}},
		{query: "h or f", want: []Series{{Labels: map[string]string{"__name__": "f"}, Points: []detector.Point{{T: t0, V: 3}}}}},
		{query: "name_and_more", want: []Series{{Labels: map[string]string{}, Points: []detector.Point{{T: t0, V: posInf}}}}},
		{query: `"hello"`, errType: "bad_response"},
		{query: "up{", errType: "bad_data"},
		{query: "sum(big)", errType: "execution"},
		{query: "slow", errType: "server_error"},
		{query: "proxy", errType: "server_error"},
		{query: "empty_error", errType: "client_error"},
		{query: "inconsistent", errType: "execution"},
		{query: "garbage_json", errType: "bad_response"},
		{query: "unknown_type", errType: "bad_response"},
		{query: "", errType: "bad_data"},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			got, err := c.Instant(context.Background(), tt.query, t0)
			if tt.errType != "" {
				checkQueryError(t, err, tt.query, tt.errType)
				return
			}
			if err != nil {
				t.Fatalf("Instant: %v", err)
			}
			assertSeries(t, got, tt.want)
			req := f.last(t)
			if req.path != "/api/v1/query" || req.form["query"] != tt.query || req.form["time"] != "1700000000" {
				t.Errorf("request = %+v, want /api/v1/query with query and time", req)
			}
			// The server gives up when the client does: at most the 10s left of the query's time.
			if secs, err := strconv.ParseFloat(req.form["timeout"], 64); err != nil || secs <= 0 || secs > 10 {
				t.Errorf("server timeout = %q, want the seconds left of 10s", req.form["timeout"])
			}
			if req.agent != "smartcloudops" {
				t.Errorf("User-Agent = %q", req.agent)
			}
		})
	}
}

var posInf = func() float64 { var z float64; return 1 / z }()

func checkQueryError(t *testing.T, err error, query, typ string) {
	t.Helper()
	var qe *QueryError
	if !errors.As(err, &qe) {
		t.Fatalf("error = %v, want *QueryError", err)
	}
	if qe.Type != typ || qe.Query != query {
		t.Fatalf("QueryError{Type:%q Query:%q} = %v, want type %q for %q", qe.Type, qe.Query, err, typ, query)
	}
	if !strings.Contains(err.Error(), fmt.Sprintf("%q", query)) || !strings.Contains(err.Error(), typ) {
		t.Errorf("message %q does not name the query and the type", err)
	}
	if qe.UserError() != (typ == "bad_data") {
		t.Errorf("UserError() = %v for type %s", qe.UserError(), typ)
	}
}

func assertSeries(t *testing.T, got, want []Series) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d series %+v, want %d", len(got), got, len(want))
	}
	for i := range want {
		if fmt.Sprint(got[i].Labels) != fmt.Sprint(want[i].Labels) {
			t.Errorf("series %d labels = %v, want %v", i, got[i].Labels, want[i].Labels)
		}
		if len(got[i].Points) != len(want[i].Points) {
			t.Fatalf("series %d has %d points, want %d", i, len(got[i].Points), len(want[i].Points))
		}
		for j, p := range want[i].Points {
			g := got[i].Points[j]
			if !g.T.Equal(p.T) || !(g.V == p.V || (g.V != g.V && p.V != p.V)) {
				t.Errorf("series %d point %d = %v, want %v", i, j, g, p)
			}
		}
	}
}

func TestRange(t *testing.T) {
	f, srv := newFake(t, map[string]answer{
		"rate(cpu[1m])": {200, matrixBody},
		"vec":           {200, vectorBody},
		"bad[":          {400, badDataBody},
	})
	c := newClient(t, Options{URL: srv.URL + "/"})
	got, err := c.Range(context.Background(), "rate(cpu[1m])", t0, t0.Add(30*time.Second), 15*time.Second)
	if err != nil {
		t.Fatalf("Range: %v", err)
	}
	nan := 0.0
	nan = nan / nan
	assertSeries(t, got, []Series{
		{Labels: map[string]string{"mode": "idle"}, Points: []detector.Point{{T: t0, V: 1.5}, {T: t0.Add(15 * time.Second), V: 2.5}, {T: t0.Add(30 * time.Second), V: nan}}},
		{Labels: map[string]string{"mode": "user"}, Points: []detector.Point{{T: t0, V: 0.25}}},
	})
	req := f.last(t)
	if req.path != "/api/v1/query_range" || req.form["start"] != "1700000000" || req.form["end"] != "1700000030" || req.form["step"] != "15" {
		t.Errorf("request = %+v", req)
	}

	// A server that answers a range query with a vector still yields series.
	got, err = c.Range(context.Background(), "vec", t0, t0, time.Second)
	if err != nil || len(got) != 2 {
		t.Fatalf("Range(vec) = %v, %v", got, err)
	}

	for _, tt := range []struct {
		name        string
		query       string
		start, end  time.Time
		step        time.Duration
		wantType    string
		wantMessage string
	}{
		{"server bad data", "bad[", t0, t0.Add(time.Minute), time.Second, "bad_data", "parse error"},
		{"zero step", "up", t0, t0.Add(time.Minute), 0, "bad_data", "step"},
		{"end before start", "up", t0, t0.Add(-time.Minute), time.Second, "bad_data", "before start"},
		{"zero start", "up", time.Time{}, t0, time.Second, "bad_data", "start and end"},
		{"empty query", "", t0, t0, time.Second, "bad_data", "empty query"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Range(context.Background(), tt.query, tt.start, tt.end, tt.step)
			checkQueryError(t, err, tt.query, tt.wantType)
			if !strings.Contains(err.Error(), tt.wantMessage) {
				t.Errorf("error %q does not mention %q", err, tt.wantMessage)
			}
		})
	}
}

func TestAuthHeaders(t *testing.T) {
	f, srv := newFake(t, map[string]answer{"up": {200, vectorBody}})
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"none", Options{URL: srv.URL}, ""},
		{"bearer", Options{URL: srv.URL, BearerToken: "s3cret"}, "Bearer s3cret"},
		{"basic", Options{URL: srv.URL, BasicAuth: &BasicAuth{User: "ops", Password: "pw"}},
			"Basic " + base64.StdEncoding.EncodeToString([]byte("ops:pw"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t, tt.o)
			if _, err := c.Instant(context.Background(), "up", time.Time{}); err != nil {
				t.Fatalf("Instant: %v", err)
			}
			req := f.last(t)
			if req.auth != tt.want {
				t.Errorf("Authorization = %q, want %q", req.auth, tt.want)
			}
			if _, ok := req.form["time"]; ok {
				t.Errorf("zero time must leave the evaluation time to the server, sent %q", req.form["time"])
			}
		})
	}
}

func TestTimeout(t *testing.T) {
	f, srv := newFake(t, map[string]answer{"up": {200, vectorBody}})
	f.delay = 5 * time.Second
	c := newClient(t, Options{URL: srv.URL, Timeout: 50 * time.Millisecond})
	_, err := c.Instant(context.Background(), "up", t0)
	checkQueryError(t, err, "up", "timeout")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v does not wrap context.DeadlineExceeded", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = c.Range(ctx, "up", t0, t0, time.Second)
	checkQueryError(t, err, "up", "canceled")
}

func TestTransportError(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	c := newClient(t, Options{URL: url})
	_, err := c.Instant(context.Background(), "up", t0)
	checkQueryError(t, err, "up", ErrTypeTransport)
}

func TestWarningsLogged(t *testing.T) {
	_, srv := newFake(t, map[string]answer{"count(up)": {200, warningBody}})
	var buf strings.Builder
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(&lockedWriter{w: &buf, mu: &mu}, nil))
	c := newClient(t, Options{URL: srv.URL, Logger: log})
	if _, err := c.Instant(context.Background(), "count(up)", t0); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(buf.String(), "results truncated") || !strings.Contains(buf.String(), "count(up)") {
		t.Errorf("log %q does not carry the warning and the query", buf.String())
	}
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestNewValidation(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		want []string
	}{
		{"missing everything", Options{}, []string{"Logger is required", "URL is required"}},
		{"bad scheme", Options{URL: "ftp://x", Logger: discard()}, []string{"scheme must be http or https"}},
		{"no host", Options{URL: "http://", Logger: discard()}, []string{"host is missing"}},
		{"query string", Options{URL: "http://x/?a=b", Logger: discard()}, []string{"query and fragment"}},
		{"both auths", Options{URL: "http://x", Logger: discard(), BearerToken: "t", BasicAuth: &BasicAuth{User: "u"}}, []string{"mutually exclusive"}},
		{"basic without user", Options{URL: "http://x", Logger: discard(), BasicAuth: &BasicAuth{}}, []string{"BasicAuth.User"}},
		{"negative timeout", Options{URL: "http://x", Logger: discard(), Timeout: -time.Second}, []string{"negative"}},
		{"negative query slots", Options{URL: "http://x", Logger: discard(), MaxConcurrentQueries: -1}, []string{"MaxConcurrentQueries -1 is negative"}},
		{"missing CA", Options{URL: "https://x", Logger: discard(), TLS: TLSOptions{CAFile: "/nonexistent/ca.pem"}}, []string{"TLS.CAFile"}},
		{"cert without key", Options{URL: "https://x", Logger: discard(), TLS: TLSOptions{CertFile: "c.pem"}}, []string{"set together"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.o)
			if err == nil {
				t.Fatal("New accepted invalid options")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	if _, err := New(Options{URL: "https://prom.example:9090/prefix", Logger: discard(), TLS: TLSOptions{InsecureSkipVerify: true}}); err != nil {
		t.Errorf("valid options refused: %v", err)
	}
}

// TestTLS queries a server whose certificate only the configured CA file vouches for.
func TestTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, vectorBody)
	}))
	t.Cleanup(srv.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, Options{URL: srv.URL, TLS: TLSOptions{CAFile: ca}})
	if got, err := c.Instant(context.Background(), "up", t0); err != nil || len(got) != 2 {
		t.Fatalf("Instant over TLS = %v, %v", got, err)
	}
	// Without the CA the server is not trusted, and that is a transport error.
	_, err := newClient(t, Options{URL: srv.URL}).Instant(context.Background(), "up", t0)
	checkQueryError(t, err, "up", ErrTypeTransport)
	if !strings.Contains(err.Error(), "certificate") {
		t.Errorf("error %q does not name the certificate", err)
	}
}

// TestGetFallback queries through a proxy under a path prefix that refuses POST: the query is
// sent again as a GET, with its parameters in the URL.
func TestGetFallback(t *testing.T) {
	var methods []string
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		methods = append(methods, r.Method+" "+r.URL.Path)
		mu.Unlock()
		if r.Method != http.MethodGet {
			http.Error(w, "POST not allowed", http.StatusMethodNotAllowed)
			return
		}
		if r.URL.Query().Get("query") != "up" || r.URL.Query().Get("time") != "1700000000" {
			http.Error(w, "parameters missing", http.StatusBadRequest)
			return
		}
		_, _ = io.WriteString(w, vectorBody)
	}))
	t.Cleanup(srv.Close)
	c := newClient(t, Options{URL: srv.URL + "/prometheus"})
	if got, err := c.Instant(context.Background(), "up", t0); err != nil || len(got) != 2 {
		t.Fatalf("Instant = %v, %v", got, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"POST /prometheus/api/v1/query", "GET /prometheus/api/v1/query"}; fmt.Sprint(methods) != fmt.Sprint(want) {
		t.Errorf("requests %v, want %v", methods, want)
	}
}
