//go:build integration

package loadtest

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/smartcloudops/smartcloudops/alertmanager"
)

// TestIntegrationWrkScriptSendsDistinctValidNotifications runs Debian's wrk with the harness's
// script for a second against a webhook that parses every body as the bot does: each must be
// valid, and no group key or fingerprint may come twice.
func TestIntegrationWrkScriptSendsDistinctValidNotifications(t *testing.T) {
	if _, err := exec.LookPath("wrk"); err != nil {
		t.Skip("wrk is not installed (Debian package wrk); run scripts/install-test-deps.sh")
	}
	var mu sync.Mutex
	groups, fingerprints := map[string]int{}, map[string]int{}
	bad := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		m, err := alertmanager.ParseBytes(body)
		mu.Lock()
		defer mu.Unlock()
		if err != nil || len(m.Alerts) != 3 || m.Alerts[0].Name() != AlertName {
			bad++
			t.Logf("bad notification (%v): %s", err, clip(body, 400))
			http.Error(w, "bad", http.StatusBadRequest)
			return
		}
		groups[m.GroupKey]++
		for _, a := range m.Alerts {
			fingerprints[a.Fingerprint]++
		}
	}))
	defer srv.Close()
	r, err := Wrk(context.Background(), WrkOptions{URL: srv.URL, Run: "it", PerGroup: 3, Threads: 2, Connections: 4,
		Duration: time.Second, Timeout: 5 * time.Second, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if bad > 0 || r.StatusErrors > 0 {
		t.Fatalf("%d notifications refused (wrk saw %d)", bad, r.StatusErrors)
	}
	if r.Requests == 0 || int64(len(groups)) < r.Requests || len(fingerprints) != 3*len(groups) {
		t.Errorf("wrk sent %d requests; %d distinct groups and %d distinct fingerprints, want a group each and 3 fingerprints a group",
			r.Requests, len(groups), len(fingerprints))
	}
	for k, n := range groups {
		if n > 1 {
			t.Errorf("group %s sent %d times", k, n)
		}
	}
}
