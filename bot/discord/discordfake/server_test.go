package discordfake

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestREST(t *testing.T) {
	s, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	do := func(method, path, auth, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, s.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", auth)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := do("GET", "/api/v9/gateway", "", ""); code != 200 || !strings.Contains(body, `"url":"ws://127.0.0.1:`) {
		t.Errorf("gateway: %d %s", code, body)
	}
	if code, _ := do("POST", "/api/v9/channels/C1/messages", "Bot wrong", `{"content":"x"}`); code != 401 {
		t.Errorf("wrong token: %d, want 401", code)
	}
	if code, body := do("POST", "/api/v9/channels/C1/messages", "Bot test-token", `{"content":"x"}`); code != 200 || !strings.Contains(body, `"content":"x"`) {
		t.Errorf("post: %d %s", code, body)
	}
	s.Inject("POST", "/api/v9/channels/", RateLimited(0.5))
	if code, body := do("POST", "/api/v9/channels/C1/messages", "Bot test-token", `{}`); code != 429 || !strings.Contains(body, `"retry_after":0.5`) {
		t.Errorf("injected: %d %s", code, body)
	}
	if code, _ := do("GET", "/api/v9/gateway/bot", "", ""); code != 401 {
		t.Errorf("gateway/bot without a token: %d, want 401", code)
	}
	s.SetToken("new-token")
	if code, _ := do("GET", "/api/v9/gateway/bot", "Bot test-token", ""); code != 401 {
		t.Errorf("gateway/bot with the old token after SetToken: %d, want 401", code)
	}
	if code, body := do("GET", "/api/v9/gateway/bot", "Bot new-token", ""); code != 200 || !strings.Contains(body, `"session_start_limit"`) {
		t.Errorf("gateway/bot with the new token: %d %s", code, body)
	}
	s.Inject("POST", "/api/v9/channels/", Response{Status: 400, Body: `{"message":"bad token ` + EchoAuthorization + `"}`})
	if code, body := do("POST", "/api/v9/channels/C1/messages", "Bot new-token", `{}`); code != 400 || !strings.Contains(body, "bad token Bot new-token") {
		t.Errorf("echoed authorization: %d %s", code, body)
	}
	if code, _ := do("GET", "/api/v9/nowhere", "", ""); code != 404 {
		t.Errorf("unknown route: %d, want 404", code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	r, err := s.WaitRequest(ctx, func(r Request) bool { return r.Status == 429 })
	if err != nil || r.Path != "/api/v9/channels/C1/messages" {
		t.Errorf("WaitRequest = %+v, %v", r, err)
	}
	if err := s.Reconnect(); err != ErrNoConnection {
		t.Errorf("Reconnect without a connection = %v, want ErrNoConnection", err)
	}
}
