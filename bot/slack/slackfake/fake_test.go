package slackfake

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestSocketRoundTrip checks the fake's side of the protocol with a bare websocket client:
// apps.connections.open hands out the socket URL, the socket greets with hello, pings, and
// records acks; Close leaves no goroutine behind.
func TestSocketRoundTrip(t *testing.T) {
	s := Start(Options{PingEvery: 10 * time.Millisecond})
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.APIURL()+"apps.connections.open", nil)
	req.Header.Set("Authorization", "Bearer xapp-test")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var open struct {
		OK  bool   `json:"ok"`
		URL string `json:"url"`
	}
	err = json.NewDecoder(res.Body).Decode(&open)
	_ = res.Body.Close()
	if err != nil || !open.OK || !strings.HasPrefix(open.URL, "ws://127.0.0.1:") {
		t.Fatalf("apps.connections.open = %+v, %v", open, err)
	}

	c, _, err := websocket.DefaultDialer.DialContext(ctx, open.URL, http.Header{"Origin": {"https://api.slack.com"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pinged := make(chan struct{}, 1)
	c.SetPingHandler(func(string) error {
		select {
		case pinged <- struct{}{}:
		default:
		}
		return nil
	})
	_, hello, err := c.ReadMessage()
	if err != nil || !strings.Contains(string(hello), `"type":"hello"`) {
		t.Fatalf("first frame = %s, %v", hello, err)
	}
	if err := s.Send(ctx, SlashCommand("e1", "/ops", "status", "U2", "alice", "C1", s.ResponseURL("1"))); err != nil {
		t.Fatal(err)
	}
	// Reading also runs the ping handler.
	if _, frame, err := c.ReadMessage(); err != nil || !strings.Contains(string(frame), `"envelope_id":"e1"`) {
		t.Fatalf("envelope = %s, %v", frame, err)
	}
	go func() {
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	}()
	if err := c.WriteMessage(websocket.TextMessage, []byte(`{"envelope_id":"e1","payload":{"text":"hi"}}`)); err != nil {
		t.Fatal(err)
	}
	a, err := s.WaitAck(ctx, "e1")
	if err != nil || string(a.Payload) != `{"text":"hi"}` {
		t.Fatalf("ack = %+v, %v", a, err)
	}
	select {
	case <-pinged:
	case <-ctx.Done():
		t.Fatal("no ping from the fake")
	}
	if s.Opens() != 1 || s.Dials() != 1 {
		t.Errorf("opens %d dials %d, want 1 and 1", s.Opens(), s.Dials())
	}
}

func TestRateLimitAndFailConnect(t *testing.T) {
	s := Start(Options{})
	defer s.Close()
	s.RateLimit("chat.postMessage", 1, 2)
	s.FailConnect("token_revoked")
	post := func(method string) (*http.Response, map[string]any) {
		res, err := http.Post(s.APIURL()+method, "application/x-www-form-urlencoded", strings.NewReader("channel=C1&text=x"))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var body map[string]any
		_ = json.NewDecoder(res.Body).Decode(&body)
		return res, body
	}
	if res, _ := post("chat.postMessage"); res.StatusCode != 429 || res.Header.Get("Retry-After") != "2" {
		t.Errorf("first post = %d Retry-After %q, want 429 / 2", res.StatusCode, res.Header.Get("Retry-After"))
	}
	if res, body := post("chat.postMessage"); res.StatusCode != 200 || body["ok"] != true || body["channel"] != "C1" {
		t.Errorf("second post = %d %v", res.StatusCode, body)
	}
	if _, body := post("apps.connections.open"); body["ok"] != false || body["error"] != "token_revoked" {
		t.Errorf("apps.connections.open = %v", body)
	}
	if calls := s.Calls("chat.postMessage"); len(calls) != 2 || calls[1].Form.Get("text") != "x" {
		t.Errorf("recorded calls = %+v", calls)
	}
}

func TestSetTokens(t *testing.T) {
	s := Start(Options{})
	defer s.Close()
	s.SetTokens("xoxb-new", "xapp-new")
	call := func(method, auth, form string) map[string]any {
		t.Helper()
		req, err := http.NewRequest("POST", s.APIURL()+method, strings.NewReader(form))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var body map[string]any
		_ = json.NewDecoder(res.Body).Decode(&body)
		return body
	}
	for _, tc := range []struct {
		method, auth, form string
		ok                 bool
	}{
		{"chat.postMessage", "", "token=xoxb-old&channel=C1&text=x", false},
		{"chat.postMessage", "", "token=xoxb-new&channel=C1&text=x", true},
		{"auth.test", "xoxb-new", "", true},
		{"apps.connections.open", "xoxb-new", "", false},
		{"apps.connections.open", "xapp-old", "", false},
		{"apps.connections.open", "xapp-new", "", true},
	} {
		body := call(tc.method, tc.auth, tc.form)
		if ok := body["ok"] == true; ok != tc.ok || (!ok && body["error"] != "invalid_auth") {
			t.Errorf("%s with %q%q = %v, want ok %v (or invalid_auth)", tc.method, tc.auth, tc.form, body, tc.ok)
		}
	}
}
