package loadtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/smartcloudops/smartcloudops/alertmanager"
)

func TestNotificationIsWhatAlertmanagerSends(t *testing.T) {
	at := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	n := NewNotification("run", 7, 3, at)
	m, err := alertmanager.ParseBytes(n.Body)
	if err != nil {
		t.Fatalf("the bot's parser refuses the payload: %v\n%s", err, n.Body)
	}
	if m.Version != "4" || m.Status != "firing" || m.GroupLabels["group"] != "run-7" || m.GroupKey != `{}/{alertname="LoadTest"}:{group="run-7"}` {
		t.Errorf("message %+v: want version 4, firing, the group run-7 and its key", m)
	}
	if want := []string{"run-7-0", "run-7-1", "run-7-2"}; !slices.Equal(n.Alerts, want) {
		t.Errorf("alerts %v, want %v", n.Alerts, want)
	}
	for i, a := range m.Alerts {
		if a.Labels["alert"] != n.Alerts[i] || a.Name() != AlertName || !a.StartsAt.Equal(at) || !a.EndsAt.IsZero() {
			t.Errorf("alert %d: %+v", i, a)
		}
		if a.Fingerprint != alertmanager.Fingerprint(a.Labels) {
			t.Errorf("alert %d: fingerprint %s, want Alertmanager's %s", i, a.Fingerprint, alertmanager.Fingerprint(a.Labels))
		}
	}
	if other := NewNotification("run", 8, 3, at); other.Group == n.Group || bytes.Equal(other.Body, n.Body) {
		t.Error("two notifications of a flood must not share a group")
	}
}

// webhook is a webhook that records every notification it accepted and answers by a rule.
type webhook struct {
	mu       sync.Mutex
	attempts map[string]int // group → requests
	accepted map[string]int // group → requests it accepted, whatever the client saw
	answer   func(group string, attempt int, r *http.Request) int
}

func (h *webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	m, err := alertmanager.ParseBytes(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	g := m.GroupLabels["group"]
	h.mu.Lock()
	h.attempts[g]++
	n := h.attempts[g]
	h.mu.Unlock()
	code := h.answer(g, n, r)
	if code/100 == 2 || code == 0 {
		h.mu.Lock()
		h.accepted[g]++
		h.mu.Unlock()
	}
	if code != 0 {
		w.WriteHeader(code)
	}
}

func serveWebhook(t *testing.T, answer func(group string, attempt int, r *http.Request) int) (*webhook, string) {
	t.Helper()
	h := &webhook{attempts: map[string]int{}, accepted: map[string]int{}, answer: answer}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return h, srv.URL
}

func readAcks(t *testing.T, log *bytes.Buffer) []AckRecord {
	t.Helper()
	var out []AckRecord
	sc := bufio.NewScanner(log)
	for sc.Scan() {
		var r AckRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("ack log line %q: %v", sc.Text(), err)
		}
		out = append(out, r)
	}
	return out
}

func TestFloodRetriesUntilAcknowledgedAndLogsEachAck(t *testing.T) {
	// Every group's first request fails: odd groups with 503, even ones by never answering
	// until the client gives up (the webhook has accepted it by then, as a bot may have).
	h, url := serveWebhook(t, func(g string, attempt int, r *http.Request) int {
		if attempt > 1 {
			return http.StatusOK
		}
		if g[len(g)-1]%2 == 1 {
			return http.StatusServiceUnavailable
		}
		<-r.Context().Done()
		return 0
	})
	var log bytes.Buffer
	var acks []int
	var mu sync.Mutex
	res, err := Flood(context.Background(), FloodOptions{URL: url, Run: "r", Notifications: 10, PerGroup: 2, Concurrency: 4,
		Timeout: 50 * time.Millisecond, Log: &log, OnAck: func(n int) { mu.Lock(); acks = append(acks, n); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Acked) != 20 || len(res.Unacked) != 0 {
		t.Fatalf("acked %d, unacked %d alerts; want all 20 acknowledged", len(res.Acked), len(res.Unacked))
	}
	if res.Attempts != 20 || res.ClientTimeout != 5 || res.Status[503] != 5 || res.Status[200] != 10 {
		t.Errorf("attempts %d, timeouts %d, status %v; want 20 requests: 5 timed out, 5 answered 503, 10 answered 200",
			res.Attempts, res.ClientTimeout, res.Status)
	}
	// The webhook accepted the abandoned requests and their retries: twice for five groups.
	twice := 0
	for _, n := range h.accepted {
		if n == 2 {
			twice++
		}
	}
	if twice != 5 {
		t.Errorf("groups accepted twice: %d, want the 5 whose first answer the client abandoned", twice)
	}
	recs := readAcks(t, &log)
	if len(recs) != 10 {
		t.Fatalf("%d ack log lines, want one per acknowledged notification", len(recs))
	}
	for _, r := range recs {
		if r.Run != "r" || r.Attempt != 2 || r.Status != 200 || len(r.Alerts) != 2 || r.Copy != 1 {
			t.Errorf("ack %+v: want run r, the second attempt answered 200, two alerts, copy 1", r)
		}
	}
	slices.Sort(acks)
	if len(acks) != 10 || acks[9] != 10 {
		t.Errorf("OnAck saw %v, want the counts 1 to 10", acks)
	}
	if len(res.Latencies) != 10 || !slices.IsSorted(res.Latencies) {
		t.Errorf("latencies %v: want the 10 acknowledged requests', sorted", res.Latencies)
	}
}

func TestFloodSendsEveryCopy(t *testing.T) {
	h, url := serveWebhook(t, func(string, int, *http.Request) int { return http.StatusOK })
	res, err := Flood(context.Background(), FloodOptions{URL: url, Run: "twice", Notifications: 6, Copies: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Acked) != 6 || res.Attempts != 12 {
		t.Errorf("acked %d alerts in %d requests, want 6 in 12", len(res.Acked), res.Attempts)
	}
	for g, n := range h.accepted {
		if n != 2 {
			t.Errorf("group %s delivered %d times, want 2", g, n)
		}
	}
}

func TestFloodAtARate(t *testing.T) {
	h, url := serveWebhook(t, func(string, int, *http.Request) int { return http.StatusOK })
	res, err := Flood(context.Background(), FloodOptions{URL: url, Run: "paced", Notifications: 5, Rate: 1000, Concurrency: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Acked) != 5 || len(h.accepted) != 5 {
		t.Errorf("acked %d, delivered %d; want all 5", len(res.Acked), len(h.accepted))
	}
}

func TestFloodStopsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The webhook refuses every request and ends the flood's context at the third one: the
	// flood, which would retry for an hour, must return at once with what it has.
	var once sync.Once
	h, url := serveWebhook(t, func(_ string, _ int, _ *http.Request) int {
		return http.StatusServiceUnavailable
	})
	h.answer = func(g string, attempt int, r *http.Request) int {
		h.mu.Lock()
		n := 0
		for _, a := range h.attempts {
			n += a
		}
		h.mu.Unlock()
		if n >= 3 {
			once.Do(cancel)
		}
		return http.StatusServiceUnavailable
	}
	res, err := Flood(ctx, FloodOptions{URL: url, Run: "stop", Notifications: 3, Concurrency: 3, RetryFor: time.Hour})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err %v, want context.Canceled", err)
	}
	if len(res.Acked) != 0 || len(res.Unacked) != 3 {
		t.Errorf("acked %v, unacked %v; want the 3 alerts unacknowledged", res.Acked, res.Unacked)
	}
}

func TestFloodGivesUpOnARefusalAndWhenRetriesRunOut(t *testing.T) {
	h, url := serveWebhook(t, func(g string, _ int, _ *http.Request) int {
		if g == "x-0" {
			return http.StatusBadRequest // refused for good: not retried
		}
		return http.StatusInternalServerError
	})
	res, err := Flood(context.Background(), FloodOptions{URL: url, Run: "x", Notifications: 2, RetryFor: 120 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Acked) != 0 || !slices.Equal(sortedCopy(res.Unacked), []string{"x-0-0", "x-1-0"}) {
		t.Errorf("acked %v, unacked %v; want both unacknowledged", res.Acked, res.Unacked)
	}
	if h.attempts["x-0"] != 1 || res.Status[400] != 1 || res.Status[500] < 1 {
		t.Errorf("status %v, %d requests of x-0: want one 400, not retried, and the 500s", res.Status, h.attempts["x-0"])
	}
}

func sortedCopy(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}
