package alertmanager

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smartcloudops/smartcloudops/internal/obs"
)

// fakeAM speaks the parts of Alertmanager's API v2 the client uses, on loopback.
type fakeAM struct {
	mu       sync.Mutex
	silences map[string]map[string]any
	next     int
	auth     []string
	lastQS   string
	now      time.Time
}

func (f *fakeAM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.auth = append(f.auth, r.Header.Get("Authorization"))
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/am/api/v2/silences":
		var in map[string]any
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			w.WriteHeader(400)
			_ = json.NewEncoder(w).Encode("bad json: " + err.Error())
			return
		}
		if in["comment"] == "reject me" {
			w.WriteHeader(400)
			_, _ = io.WriteString(w, `"silence invalid: comment rejected"`)
			return
		}
		f.next++
		id := "sil-" + string(rune('0'+f.next))
		in["id"] = id
		in["status"] = map[string]any{"state": "active"}
		in["updatedAt"] = f.now.Format(time.RFC3339)
		f.silences[id] = in
		_ = json.NewEncoder(w).Encode(map[string]string{"silenceID": id})
	case r.Method == http.MethodGet && r.URL.Path == "/am/api/v2/silences":
		out := []any{}
		for _, s := range f.silences {
			out = append(out, s)
		}
		_ = json.NewEncoder(w).Encode(out)
	case r.Method == http.MethodDelete && strings.HasPrefix(r.URL.Path, "/am/api/v2/silence/"):
		id := strings.TrimPrefix(r.URL.Path, "/am/api/v2/silence/")
		s, ok := f.silences[id]
		if !ok {
			w.WriteHeader(404)
			_, _ = io.WriteString(w, `"silence not found"`)
			return
		}
		s["status"] = map[string]any{"state": "expired"}
		w.WriteHeader(200)
	case r.Method == http.MethodGet && r.URL.Path == "/am/api/v2/alerts":
		f.lastQS = r.URL.RawQuery
		_, _ = io.WriteString(w, `[{"labels":{"alertname":"A","instance":"web-1"},"annotations":{"summary":"s"},
			"startsAt":"2024-05-01T12:00:00Z","endsAt":"2024-05-01T12:05:00Z","updatedAt":"2024-05-01T12:01:00Z",
			"fingerprint":"abc","generatorURL":"http://p","receivers":[{"name":"smartcloudops"}],
			"status":{"state":"suppressed","silencedBy":["sil-1"],"inhibitedBy":[]}}]`)
	case r.URL.Path == "/am/api/v2/broken":
		w.WriteHeader(200)
		_, _ = io.WriteString(w, `{not json`)
	default:
		w.WriteHeader(500)
		_, _ = io.WriteString(w, `unexpected `+r.Method+" "+r.URL.Path)
	}
}

func newFakeAM(t *testing.T) (*fakeAM, *Client) {
	t.Helper()
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	f := &fakeAM{silences: map[string]map[string]any{}, now: now}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	c, err := NewClient(ClientOptions{URL: srv.URL + "/am/", BearerToken: "t0k", Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return f, c
}

func TestClientSilenceLifecycle(t *testing.T) {
	f, c := newFakeAM(t)
	ctx := context.Background()
	ms, err := ParseMatchers(`alertname="HostHighCpu",instance!~"db-.*"`)
	if err != nil {
		t.Fatal(err)
	}
	id, err := c.CreateSilence(ctx, Silence{Matchers: ms, EndsAt: f.now.Add(time.Hour), CreatedBy: "alice", Comment: "deploy"})
	if err != nil || id != "sil-1" {
		t.Fatalf("CreateSilence = %q, %v", id, err)
	}
	f.mu.Lock()
	sent := f.silences["sil-1"]
	f.mu.Unlock()
	if sent["startsAt"] != "2024-05-01T12:00:00Z" || sent["endsAt"] != "2024-05-01T13:00:00Z" || sent["createdBy"] != "alice" {
		t.Errorf("sent silence = %v", sent)
	}
	wireMs, _ := json.Marshal(sent["matchers"])
	if string(wireMs) != `[{"isEqual":true,"isRegex":false,"name":"alertname","value":"HostHighCpu"},{"isEqual":false,"isRegex":true,"name":"instance","value":"db-.*"}]` {
		t.Errorf("sent matchers = %s", wireMs)
	}

	list, err := c.ListSilences(ctx)
	if err != nil || len(list) != 1 {
		t.Fatalf("ListSilences = %+v, %v", list, err)
	}
	s := list[0]
	if s.ID != "sil-1" || s.State != SilenceActive || s.CreatedBy != "alice" || s.Comment != "deploy" || !s.EndsAt.Equal(f.now.Add(time.Hour)) {
		t.Errorf("listed silence = %+v", s)
	}
	if len(s.Matchers) != 2 || s.Matchers[0] != ms[0] || s.Matchers[1] != ms[1] {
		t.Errorf("listed matchers = %+v, want %+v", s.Matchers, ms)
	}

	if err := c.ExpireSilence(ctx, "sil-1"); err != nil {
		t.Fatalf("ExpireSilence: %v", err)
	}
	list, _ = c.ListSilences(ctx)
	if list[0].State != SilenceExpired {
		t.Errorf("state after expire = %q", list[0].State)
	}
	err = c.ExpireSilence(ctx, "nope")
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "silence not found") {
		t.Errorf("ExpireSilence(unknown) = %v, want ErrNotFound with the server's text", err)
	}
	if err := c.ExpireSilence(ctx, "../x"); err == nil || !strings.Contains(err.Error(), "invalid ID") {
		t.Errorf("ExpireSilence(path) = %v", err)
	}
	f.mu.Lock()
	for i, a := range f.auth {
		if a != "Bearer t0k" {
			t.Errorf("request %d Authorization = %q", i, a)
		}
	}
	f.mu.Unlock()
}

func TestClientCreateSilenceValidation(t *testing.T) {
	f, c := newFakeAM(t)
	eq := []Matcher{{Name: "alertname", Type: MatchEqual, Value: "A"}}
	end := f.now.Add(time.Hour)
	tests := []struct {
		name string
		s    Silence
		want []string
	}{
		{"empty", Silence{}, []string{"at least one matcher", "EndsAt is required", "CreatedBy is required", "Comment is required"}},
		{"match all", Silence{Matchers: []Matcher{{Name: "a", Type: MatchRegexp, Value: ".*"}}, EndsAt: end, CreatedBy: "a", Comment: "c"}, []string{"every alert"}},
		{"end before start", Silence{Matchers: eq, StartsAt: end, EndsAt: f.now, CreatedBy: "a", Comment: "c"}, []string{"is not after StartsAt"}},
		{"bad regexp", Silence{Matchers: []Matcher{{Name: "a", Type: MatchRegexp, Value: "("}}, EndsAt: end, CreatedBy: "a", Comment: "c"}, []string{"invalid regular expression"}},
		{"server refuses", Silence{Matchers: eq, EndsAt: end, CreatedBy: "a", Comment: "reject me"}, []string{"HTTP 400", "comment rejected"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.CreateSilence(context.Background(), tt.s)
			if err == nil {
				t.Fatal("CreateSilence accepted it")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestClientAlerts(t *testing.T) {
	f, c := newFakeAM(t)
	alerts, err := c.Alerts(context.Background(), []Matcher{{Name: "alertname", Type: MatchEqual, Value: "A"}})
	if err != nil || len(alerts) != 1 {
		t.Fatalf("Alerts = %+v, %v", alerts, err)
	}
	a := alerts[0]
	if !a.Suppressed() || len(a.SilencedBy) != 1 || a.SilencedBy[0] != "sil-1" || a.Fingerprint != "abc" ||
		a.Labels["instance"] != "web-1" || len(a.Receivers) != 1 || a.Receivers[0] != "smartcloudops" {
		t.Errorf("alert = %+v", a)
	}
	f.mu.Lock()
	qs := f.lastQS
	f.mu.Unlock()
	for _, w := range []string{"filter=alertname%3D%22A%22", "silenced=true", "inhibited=true", "active=true"} {
		if !strings.Contains(qs, w) {
			t.Errorf("query %q lacks %q", qs, w)
		}
	}
	if _, err := c.Alerts(context.Background(), []Matcher{{Name: "a", Type: "~~", Value: "x"}}); err == nil {
		t.Error("invalid filter accepted")
	}
}

func TestClientErrors(t *testing.T) {
	f, c := newFakeAM(t)
	_ = f
	var out any
	err := c.do(context.Background(), "broken", http.MethodGet, "/api/v2/broken", nil, nil, &out)
	if err == nil || !strings.Contains(err.Error(), "broken: decode answer") {
		t.Errorf("bad JSON answer: %v", err)
	}
	err = c.do(context.Background(), "status", http.MethodGet, "/api/v2/status", nil, nil, &out)
	var ae *APIError
	if !errors.As(err, &ae) || ae.StatusCode != 500 || !strings.Contains(ae.Message, "unexpected GET") {
		t.Errorf("plain-text error answer: %v", err)
	}

	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer slow.Close()
	sc, err := NewClient(ClientOptions{URL: slow.URL, Timeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	if _, err := sc.ListSilences(context.Background()); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("slow server: %v, want a deadline error", err)
	}

	for _, bad := range []ClientOptions{{}, {URL: "ftp://x"}, {URL: "http://"}, {URL: "http://x", Timeout: -1}} {
		if _, err := NewClient(bad); err == nil {
			t.Errorf("NewClient(%+v) accepted", bad)
		}
	}
}

// TestClientNamesAnUnreachableAlertmanager: a refused connection is an UnavailableError whose
// text names Alertmanager, its address and the cause, never a wrapped transport error alone.
func TestClientNamesAnUnreachableAlertmanager(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	c, err := NewClient(ClientOptions{URL: "http://user:pw@" + addr})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.ListSilences(context.Background())
	if !obs.IsUnavailable(err) {
		t.Fatalf("err %v is not an UnavailableError", err)
	}
	var ue *obs.UnavailableError
	errors.As(err, &ue)
	if want := "Alertmanager at http://" + addr + " is unreachable: connection refused"; ue.Error() != want {
		t.Fatalf("message %q, want %q", ue.Error(), want)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.ListSilences(ctx); obs.IsUnavailable(err) {
		t.Fatalf("a call the caller cancelled blames Alertmanager: %v", err)
	}
}
