//go:build integration

package app

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smartcloudops/smartcloudops/internal/config"
	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/internal/testenv"
	"github.com/smartcloudops/smartcloudops/remediation"
)

// replica is one bot of a replicated deployment, run in this process.
type replica struct {
	b    *Bot
	stop func() error // stops the replica once and returns what Run returned
	url  string
	out  *syncBuffer
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startReplica builds and runs one replica on the shared etcd store.
func startReplica(t *testing.T, etcd *testenv.Etcd, rulesDir string) *replica {
	t.Helper()
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	cfg.Checks = nil
	cfg.Listen = freeAddr(t)
	cfg.Rules.Paths = []string{rulesDir}
	cfg.Store = config.Store{Backend: "etcd", Etcd: config.StoreEtcd{Endpoints: etcd.Endpoints(), Prefix: "/smartcloudops/test/",
		Deployment: "test", DialTimeout: config.Duration(5 * time.Second)}}
	pr, pw := io.Pipe()
	r := &replica{url: "http://" + cfg.Listen, out: &syncBuffer{}}
	ctx, cancel := context.WithCancel(context.Background())
	b, err := Build(ctx, Options{Config: cfg, In: pr, Out: r.out, Logger: obs.Discard(), Environ: []string{}})
	if err != nil {
		cancel()
		t.Fatalf("build a replica: %v", err)
	}
	r.b = b
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	var once sync.Once
	var runErr error
	r.stop = func() error {
		once.Do(func() { cancel(); pw.Close(); runErr = <-done })
		return runErr
	}
	t.Cleanup(func() { r.stop() })
	return r
}

func waitUntil(t *testing.T, what string, d time.Duration, ok func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !ok() {
		if time.Since(start) > d {
			t.Fatalf("waited %s for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

// TestIntegrationReplicas runs two replicas on Debian's etcd: one leads; an alert posted to the
// follower becomes an incident and a proposal on the leader; an approval on the follower runs
// once, on the leader; when the leader stops, the follower leads within seconds and acts.
func TestIntegrationReplicas(t *testing.T) {
	etcd := testenv.StartEtcd(t, testenv.EtcdOptions{})
	rulesDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(rulesDir, "alerts.yaml"), []byte(`groups:
  - name: alerts
    rules:
      - name: scale-on-alert
        alert: {alertname: HostHighCpu}
        action: {name: script, params: {script: scale_up.sh, args: ['{{ .labels.instance }}', '2', '3']}}
        approval: {roles: [operator]}
`), 0o640); err != nil {
		t.Fatal(err)
	}
	a := startReplica(t, etcd, rulesDir)
	waitUntil(t, "a leader", 20*time.Second, func() bool { return a.b.leading() })
	c := startReplica(t, etcd, rulesDir)
	time.Sleep(500 * time.Millisecond)
	if c.b.leading() {
		t.Fatal("two replicas lead")
	}
	if s := c.b.leaderStatus(); !strings.Contains(s, "follows") || !strings.Contains(s, a.b.replica()) {
		t.Errorf("the follower says %q", s)
	}
	resp, err := http.Get(c.url + "/readyz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("the follower's /readyz: %v %v", resp, err)
	}
	resp.Body.Close()

	// An alert posted to the follower: the leader makes the incident and the proposal.
	body := fmt.Sprintf(`{"version":"4","groupKey":"{}:{alertname=\"HostHighCpu\"}","status":"firing","receiver":"bot",
"groupLabels":{"alertname":"HostHighCpu"},"commonLabels":{"alertname":"HostHighCpu"},"commonAnnotations":{},"externalURL":"",
"alerts":[{"status":"firing","labels":{"alertname":"HostHighCpu","instance":"web-1"},"annotations":{},
"startsAt":"%s","endsAt":"0001-01-01T00:00:00Z","generatorURL":"","fingerprint":"f1"}]}`, time.Now().Add(-time.Minute).UTC().Format(time.RFC3339))
	resp, err = http.Post(c.url+"/api/v1/alertmanager", "application/json", bytes.NewBufferString(body))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("webhook on the follower: %v %v", resp, err)
	}
	resp.Body.Close()
	ctx := context.Background()
	var p remediation.Proposal
	waitUntil(t, "the proposal made on the leader", 30*time.Second, func() bool {
		ps, err := c.b.Proposals.List(ctx, remediation.StatePending)
		if err == nil && len(ps) == 1 {
			p = ps[0]
			return true
		}
		return false
	})

	// The approval on the follower runs on the leader, once.
	alice := remediation.Actor{ID: "console:alice", Name: "alice", Roles: []string{"operator"}}
	got, err := c.b.Proposals.Approve(ctx, p.ID, alice)
	if err != nil || got.State != remediation.StateApproved {
		t.Fatalf("approve on the follower: %+v %v", got, err)
	}
	waitUntil(t, "the leader to run the approval", 30*time.Second, func() bool {
		q, err := c.b.Proposals.Get(ctx, p.ID)
		return err == nil && q.State == remediation.StateSucceeded
	})

	// The leader stops: the follower leads within seconds, and acts.
	if err := a.stop(); err != nil {
		t.Fatalf("the leader stopped with %v", err)
	}
	took := waitUntil(t, "the follower to lead", 30*time.Second, func() bool { return c.b.leading() })
	t.Logf("failover after the leader stopped: %s", took.Round(10*time.Millisecond))
	p2, err := c.b.Proposals.Propose(ctx, remediation.Request{Action: "script", Params: map[string]any{"script": "scale_up.sh", "args": []any{"web-2", "2", "3"}},
		Requester: alice, Policy: remediation.Policy{Roles: []string{"admin"}, AllowRequester: true}})
	if err != nil {
		t.Fatal(err)
	}
	root := remediation.Actor{ID: "console:root", Name: "root", Roles: []string{"admin"}}
	got, err = c.b.Proposals.Approve(ctx, p2.ID, root)
	if err != nil || got.State != remediation.StateSucceeded {
		t.Fatalf("approve on the new leader: %+v %v", got, err)
	}
}
