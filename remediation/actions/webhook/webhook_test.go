package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/internal/store"
	"github.com/smartcloudops/smartcloudops/remediation"
	"github.com/smartcloudops/smartcloudops/remediation/audit"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var (
	secret  = []byte("s3cr3t")
	fixedTS = time.Unix(1_760_000_000, 0)
)

// received is one request as the test server saw it.
type received struct {
	method string
	header http.Header
	body   []byte
}

// receiver is a loopback endpoint that records requests and answers with the next status in
// its script (the last one repeats).
type receiver struct {
	srv      *httptest.Server
	mu       sync.Mutex
	reqs     []received
	statuses []int
	respBody string
}

func newReceiver(t *testing.T, statuses ...int) *receiver {
	t.Helper()
	rc := &receiver{statuses: statuses, respBody: `{"ok":true}`}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.reqs = append(rc.reqs, received{r.Method, r.Header.Clone(), body})
		i := min(len(rc.reqs)-1, len(rc.statuses)-1)
		status, respBody := http.StatusOK, rc.respBody
		if i >= 0 {
			status = rc.statuses[i]
		}
		rc.mu.Unlock()
		if status == http.StatusFound {
			w.Header().Set("Location", "/elsewhere")
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, respBody)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.reqs...)
}

func newAction(t *testing.T, o Options) *Action {
	t.Helper()
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.HTTPClient == nil {
		tr := &http.Transport{}
		t.Cleanup(tr.CloseIdleConnections)
		o.HTTPClient = &http.Client{Transport: tr}
	}
	if o.Backoff == 0 {
		o.Backoff = time.Millisecond
	}
	if o.Now == nil {
		o.Now = func() time.Time { return fixedTS }
	}
	a, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return a
}

func params(t *testing.T, a *Action, raw map[string]any) remediation.Params {
	t.Helper()
	p, err := a.Schema().Normalize(raw)
	if err != nil {
		t.Fatalf("Normalize: %v", err)
	}
	return p
}

func TestDeliverSigned(t *testing.T) {
	rc := newReceiver(t)
	a := newAction(t, Options{Secret: secret})
	// The token is not hex, so the body's digest in the description can never contain it.
	p := params(t, a, map[string]any{"url": rc.srv.URL + "/hooks/deploy?token=TOKEN-VALUE", "idempotency_key": "p-42"})

	if got, want := a.Target(p), "webhook/"+strings.TrimPrefix(rc.srv.URL, "http://"); got != want {
		t.Errorf("Target = %q, want %q", got, want)
	}
	desc, err := a.Describe(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	if want := "POST " + rc.srv.URL + "/hooks/deploy ("; !strings.HasPrefix(desc, want) || !strings.Contains(desc, "signed, Idempotency-Key p-42") {
		t.Errorf("Describe = %q", desc)
	}
	// The approver sees which query parameters are sent, never their values (often tokens).
	if strings.Contains(desc, "TOKEN-VALUE") || !strings.Contains(desc, "query token=…") {
		t.Errorf("Describe leaks the query value or hides its names: %q", desc)
	}
	if len(rc.requests()) != 0 {
		t.Fatal("Describe sent a request")
	}

	res, err := a.Execute(context.Background(), p)
	if err != nil {
		t.Fatalf("Execute: %v", err)
	}
	if res.Output != `{"ok":true}` || !strings.HasSuffix(res.Summary, "-> 200 OK") {
		t.Errorf("Result = %+v", res)
	}
	reqs := rc.requests()
	if len(reqs) != 1 {
		t.Fatalf("got %d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.method != http.MethodPost || r.header.Get("Content-Type") != "application/json" || r.header.Get(HeaderIdempotency) != "p-42" {
		t.Errorf("request = %s %v", r.method, r.header)
	}
	ts := r.header.Get(HeaderTimestamp)
	if ts != "1760000000" {
		t.Errorf("timestamp = %q", ts)
	}
	if err := Verify(secret, ts, r.header.Get(HeaderSignature), r.body, fixedTS, time.Minute); err != nil {
		t.Errorf("Verify: %v", err)
	}
	var body map[string]any
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatalf("default body is not JSON: %v: %s", err, r.body)
	}
	if body["idempotency_key"] != "p-42" || body["method"] != "POST" || body["url"] == nil {
		t.Errorf("default body = %s", r.body)
	}
}

func TestExplicitBodyAndUnsigned(t *testing.T) {
	rc := newReceiver(t)
	a := newAction(t, Options{})
	body := `{"text":"scale web-asg","n":3}`
	p := params(t, a, map[string]any{"url": rc.srv.URL, "body": body, "method": "put"})
	if _, err := a.Execute(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	r := rc.requests()[0]
	if string(r.body) != body || r.method != http.MethodPut {
		t.Errorf("got %s %q", r.method, r.body)
	}
	if r.header.Get(HeaderSignature) != "" || r.header.Get(HeaderTimestamp) != "" || r.header.Get(HeaderIdempotency) != "" {
		t.Errorf("unexpected headers %v", r.header)
	}
}

func TestRetries(t *testing.T) {
	tests := []struct {
		name       string
		statuses   []int
		maxRetries int
		wantCalls  int
		wantCode   int // 0 for success
	}{
		{"5xx then success", []int{500, 502, 200}, 3, 3, 0},
		{"5xx exhausts retries", []int{503}, 2, 3, 503},
		{"no retry on 4xx", []int{400, 200}, 3, 1, 400},
		{"no retry on 429", []int{429, 200}, 3, 1, 429},
		{"retries disabled", []int{500, 200}, -1, 1, 500},
		{"redirect not followed", []int{302, 200}, 3, 1, 302},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(t, tt.statuses...)
			a := newAction(t, Options{Secret: secret, MaxRetries: tt.maxRetries})
			p := params(t, a, map[string]any{"url": rc.srv.URL, "idempotency_key": "p-7"})
			res, err := a.Execute(context.Background(), p)
			reqs := rc.requests()
			if len(reqs) != tt.wantCalls {
				t.Errorf("got %d requests, want %d", len(reqs), tt.wantCalls)
			}
			for i, r := range reqs {
				if r.header.Get(HeaderIdempotency) != "p-7" || string(r.body) != string(reqs[0].body) {
					t.Errorf("attempt %d differs: key %q body %q", i+1, r.header.Get(HeaderIdempotency), r.body)
				}
			}
			if tt.wantCode == 0 {
				if err != nil {
					t.Fatalf("Execute: %v", err)
				}
				if !strings.Contains(res.Summary, "(attempt 3)") {
					t.Errorf("Summary = %q", res.Summary)
				}
				return
			}
			var se *StatusError
			if !errors.As(err, &se) || se.Code != tt.wantCode || se.Attempts != tt.wantCalls {
				t.Fatalf("err = %v, want StatusError %d after %d attempts", err, tt.wantCode, tt.wantCalls)
			}
		})
	}
}

func TestConnectionErrorsRetried(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= 2 {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	a := newAction(t, Options{MaxRetries: 4})
	res, err := a.Execute(context.Background(), remediation.Params{"url": srv.URL, "idempotency_key": "k"})
	if err != nil {
		t.Fatalf("Execute: %v", err)
	}
	if !strings.Contains(res.Summary, "202") || calls.Load() < 3 {
		t.Errorf("Summary %q after %d calls", res.Summary, calls.Load())
	}

	srv.Close()
	_, err = a.Execute(context.Background(), remediation.Params{"url": srv.URL})
	if err == nil || !strings.Contains(err.Error(), "attempt 5") {
		t.Errorf("err = %v, want a connection error after 5 attempts", err)
	}
}

func TestAttemptTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
	}))
	defer srv.Close()
	defer close(release) // runs first: Close waits for handlers
	a := newAction(t, Options{Timeout: 50 * time.Millisecond, MaxRetries: 1})
	_, err := a.Execute(context.Background(), remediation.Params{"url": srv.URL})
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "attempt 2") {
		t.Errorf("err = %v, want a deadline error on attempt 2", err)
	}
}

// onMessage is a slog handler that calls fn with the message of every record.
type onMessage func(msg string)

func (h onMessage) Enabled(context.Context, slog.Level) bool { return true }
func (h onMessage) Handle(_ context.Context, r slog.Record) error {
	h(r.Message)
	return nil
}
func (h onMessage) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h onMessage) WithGroup(string) slog.Handler      { return h }

func TestCancelDuringBackoff(t *testing.T) {
	rc := newReceiver(t, 500)
	ctx, cancel := context.WithCancel(context.Background())
	// Cancel once the first attempt's 500 has come back and the action waits to retry: the
	// request reaching the server is not enough, its answer may still be on the way.
	logger := slog.New(onMessage(func(msg string) {
		if msg == "webhook attempt failed, retrying" {
			cancel()
		}
	}))
	a := newAction(t, Options{Backoff: time.Hour, MaxRetries: 3, Logger: logger})
	_, err := a.Execute(ctx, remediation.Params{"url": rc.srv.URL})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	var se *StatusError
	if !errors.As(err, &se) || se.Code != 500 {
		t.Errorf("err = %v, want it to carry the last StatusError", err)
	}
}

func TestOutputCap(t *testing.T) {
	rc := newReceiver(t)
	rc.respBody = strings.Repeat("y", 5000)
	a := newAction(t, Options{OutputCap: 100})
	res, err := a.Execute(context.Background(), remediation.Params{"url": rc.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Repeat("y", 100) + "\n[truncated]"; res.Output != want {
		t.Errorf("Output = %q", res.Output)
	}
}

func TestAllowedHosts(t *testing.T) {
	rc := newReceiver(t)
	tests := []struct {
		allowed []string
		url     string
		ok      bool
	}{
		{[]string{"127.0.0.1"}, rc.srv.URL, true},
		{[]string{"hooks.example.com"}, rc.srv.URL, false},
		{[]string{"*.example.com"}, "https://a.b.example.com/x", true},
		{[]string{"*.example.com"}, "https://example.com/x", false},
		{[]string{"*.example.com"}, "https://evilexample.com/x", false},
		{[]string{"Hooks.Example.com"}, "https://hooks.example.COM./x", true},
		{[]string{"hooks.example.com"}, "https://hooks.example.com@evil.test/x", false},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			a := newAction(t, Options{AllowedHosts: tt.allowed})
			_, err := a.Describe(context.Background(), remediation.Params{"url": tt.url})
			if tt.ok && err != nil {
				t.Errorf("Describe: %v", err)
			}
			if !tt.ok && !errors.Is(err, ErrHostNotAllowed) {
				t.Errorf("err = %v, want ErrHostNotAllowed", err)
			}
		})
	}
}

func TestBadParams(t *testing.T) {
	a := newAction(t, Options{})
	tests := []struct {
		name string
		p    remediation.Params
		want string
	}{
		{"missing url", remediation.Params{}, `param "url" is required`},
		{"ftp", remediation.Params{"url": "ftp://example.com/x"}, "scheme must be http or https"},
		{"file", remediation.Params{"url": "file:///etc/passwd"}, "scheme must be http or https"},
		{"no host", remediation.Params{"url": "http:///x"}, "no host"},
		{"unparsable", remediation.Params{"url": "http://[::1"}, `param "url"`},
		{"template url", remediation.Params{"url": "{{ .labels.hook }}"}, "unrendered template"},
		{"GET", remediation.Params{"url": "http://example.com", "method": "GET"}, "want POST, PUT or PATCH"},
		{"bad json", remediation.Params{"url": "http://example.com", "body": `{"a":`}, "not valid JSON"},
		{"header injection", remediation.Params{"url": "http://example.com", "idempotency_key": "a\r\nX-Evil: 1"}, "one line"},
		{"wrong type", remediation.Params{"url": 42}, "want a string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := a.Execute(context.Background(), tt.p)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
	if _, err := a.Describe(context.Background(), remediation.Params{"url": "http://example.com", "body": "plain", "content_type": "text/plain"}); err != nil {
		t.Errorf("a non-JSON body with a text content type was refused: %v", err)
	}
}

func TestNewValidation(t *testing.T) {
	_, err := New(Options{Timeout: -1, OutputCap: -1, AllowedHosts: []string{"http://x", "a*.b", ""}})
	if err == nil {
		t.Fatal("New accepted bad options")
	}
	for _, want := range []string{"Logger is required", "must not be negative", "OutputCap", "AllowedHosts[0]", "AllowedHosts[1]", "AllowedHosts[2]"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to mention %q", err, want)
		}
	}
}

func TestVerify(t *testing.T) {
	body := []byte(`{"a":1}`)
	ts := "1760000000"
	good := Sign(secret, ts, body)
	tests := []struct {
		name       string
		secret     []byte
		ts, sig    string
		body       []byte
		now        time.Time
		wantErrMsg string
	}{
		{"good", secret, ts, good, body, fixedTS, ""},
		{"within tolerance", secret, ts, good, body, fixedTS.Add(4 * time.Minute), ""},
		{"stale", secret, ts, good, body, fixedTS.Add(6 * time.Minute), "away from now"},
		{"future", secret, ts, good, body, fixedTS.Add(-6 * time.Minute), "away from now"},
		{"wrong secret", []byte("other"), ts, good, body, fixedTS, "does not match"},
		{"tampered body", secret, ts, good, []byte(`{"a":2}`), fixedTS, "does not match"},
		{"timestamp swapped", secret, "1760000001", good, body, fixedTS, "does not match"},
		{"no prefix", secret, ts, strings.TrimPrefix(good, "sha256="), body, fixedTS, "does not start with"},
		{"short", secret, ts, "sha256=abcd", body, fixedTS, "hex-encoded"},
		{"bad timestamp", secret, "yesterday", good, body, fixedTS, "not unix seconds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Verify(tt.secret, tt.ts, tt.sig, tt.body, tt.now, 5*time.Minute)
			if tt.wantErrMsg == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrBadSignature) || !strings.Contains(err.Error(), tt.wantErrMsg) {
				t.Errorf("err = %v, want ErrBadSignature mentioning %q", err, tt.wantErrMsg)
			}
		})
	}
	// The signed string is documented; pin it so receivers in other languages stay compatible.
	// HMAC-SHA256(key "k", "1.b"), computed independently.
	if got, want := Sign([]byte("k"), "1", []byte("b")), "sha256=2946e37a45bb02a0bf1bf1a7d9219543801fedd301f9f485aebd72c928639bea"; got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
}

func TestConcurrentExecute(t *testing.T) {
	rc := newReceiver(t, 200)
	a := newAction(t, Options{Secret: secret})
	var wg sync.WaitGroup
	var failed atomic.Int32
	for range 20 {
		wg.Go(func() {
			if _, err := a.Execute(context.Background(), remediation.Params{"url": rc.srv.URL}); err != nil {
				failed.Add(1)
			}
		})
	}
	wg.Wait()
	if failed.Load() != 0 || len(rc.requests()) != 20 {
		t.Errorf("%d failures, %d requests", failed.Load(), len(rc.requests()))
	}
}

func BenchmarkExecute(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	defer srv.Close()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	a, err := New(Options{Secret: secret, HTTPClient: &http.Client{Transport: tr}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	p := remediation.Params{"url": srv.URL, "body": `{"text":"scale web-asg to 3"}`, "idempotency_key": "p-1"}
	for b.Loop() {
		if _, err := a.Execute(context.Background(), p); err != nil {
			b.Fatal(err)
		}
	}
}

// TestPrivateNetworksRefusedByDefault: with no allow-list, the default client will not connect
// to the bot's own network; an operator can allow it.
func TestPrivateNetworksRefusedByDefault(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "internal") }))
	defer srv.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, allow := range []bool{false, true} {
		a, err := New(Options{Logger: log, MaxRetries: -1, AllowPrivateNetworks: allow})
		if err != nil {
			t.Fatal(err)
		}
		p, err := a.Schema().Normalize(map[string]any{"url": srv.URL + "/x"})
		if err != nil {
			t.Fatal(err)
		}
		res, err := a.Execute(context.Background(), p)
		if !allow && (err == nil || !errors.Is(err, ErrHostNotAllowed) || strings.Contains(res.Output, "internal")) {
			t.Fatalf("loopback reached without permission: %v %q", err, res.Output)
		}
		if allow && err != nil {
			t.Fatalf("loopback refused with allow_private_networks: %v", err)
		}
	}
}

func TestPublicOnly(t *testing.T) {
	for addr, public := range map[string]bool{
		"93.184.215.14:443":      true,
		"[2606:2800:21f::1]:443": true,
		"127.0.0.1:80":           false,
		"10.1.2.3:80":            false,
		"169.254.169.254:80":     false,
		"100.64.0.1:80":          false,
		"100.127.255.254:80":     false,
		"[::ffff:10.0.0.1]:80":   false,
		"[64:ff9b::a00:1]:80":    false,
		"[64:ff9b:1::a00:1]:80":  false,
		"[fd00::1]:80":           false,
		"[fe80::1]:80":           false,
		"0.0.0.0:80":             false,
	} {
		if err := publicOnly("tcp", addr, nil); (err == nil) != public {
			t.Errorf("%s: %v, want public %v", addr, err, public)
		}
	}
}

// TestRefusedAtProposal: a proposal with a bad scheme, a host outside allowed_hosts or a literal
// private address is refused when it is proposed, with a user error naming the parameter, and
// a name that resolves to a private address is refused once, not retried.
func TestRefusedAtProposal(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	public, err := New(Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	listed, err := New(Options{Logger: log, AllowedHosts: []string{"hooks.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		a    *Action
		url  string
		want string
	}{
		{public, "ftp://hooks.example.com/x", `no proposal: webhook: param "url" ftp://hooks.example.com/x: scheme must be http or https`},
		{public, "http://169.254.169.254/latest/meta-data", `no proposal: webhook: param "url": host not allowed: 169.254.169.254 is a private or local address (list the host in actions.webhook.allowed_hosts or set actions.webhook.allow_private_networks)`},
		{listed, "https://evil.test/x", `no proposal: webhook: param "url": host not allowed: evil.test is not in actions.webhook.allowed_hosts (hooks.example.com)`},
	}
	for _, tt := range tests {
		st := store.NewMemory()
		al, _ := audit.New(audit.Options{Store: st})
		mg, err := remediation.New(remediation.Options{Store: st, Audit: al,
			Actions: func(n string) (remediation.Action, bool) { return tt.a, n == Name }})
		if err != nil {
			t.Fatal(err)
		}
		_, err = mg.Propose(context.Background(), remediation.Request{Action: Name, Params: map[string]any{"url": tt.url}})
		var re *remediation.RefusedError
		if !errors.As(err, &re) || !obs.IsUser(err) || re.Unavailable || err.Error() != tt.want {
			t.Errorf("%s: err = %v\nwant the user error %s", tt.url, err, tt.want)
		}
	}

	// localhost passes the proposal (a name) and is refused at the dial, once.
	var attempts atomic.Int32
	a, err := New(Options{Logger: slog.New(onMessage(func(msg string) {
		if strings.HasPrefix(msg, "webhook attempt failed") || msg == "webhook failed" {
			attempts.Add(1)
		}
	})), MaxRetries: 3, Backoff: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.Execute(context.Background(), remediation.Params{"url": "http://localhost:1/x"})
	if !errors.Is(err, ErrHostNotAllowed) || attempts.Load() != 1 {
		t.Fatalf("err = %v after %d attempts, want one refused attempt", err, attempts.Load())
	}
}
