//go:build integration

package testenv

import (
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestIntegrationStartAndCleanup starts each server in a subtest, checks that it answers on
// loopback, and checks that its port is closed once the subtest's cleanup has run.
func TestIntegrationStartAndCleanup(t *testing.T) {
	var addrs []string
	t.Run("servers", func(t *testing.T) {
		node := StartNodeExporter(t)
		am := StartAlertmanager(t, AMOptions{WebhookURL: "http://127.0.0.1:1/unused"})
		prom := StartPrometheus(t, PromOptions{ScrapeTargets: []string{node}, AlertmanagerURL: am,
			RuleFiles: map[string]string{"empty.yml": "groups: []\n"}})
		for _, u := range []string{"http://" + node + "/metrics", am + "/-/ready", prom + "/-/ready", prom + "/api/v1/status/config"} {
			resp, err := http.Get(u)
			if err != nil {
				t.Fatalf("GET %s: %v", u, err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("GET %s: HTTP %d", u, resp.StatusCode)
			}
		}
		for _, raw := range []string{am, prom} {
			u, err := url.Parse(raw)
			if err != nil || u.Hostname() != "127.0.0.1" {
				t.Errorf("server URL %s is not on 127.0.0.1", raw)
			}
			addrs = append(addrs, u.Host)
		}
		if !strings.HasPrefix(node, "127.0.0.1:") {
			t.Errorf("node exporter address %s is not on 127.0.0.1", node)
		}
		addrs = append(addrs, node)
	})
	for _, a := range addrs {
		c, err := net.DialTimeout("tcp", a, time.Second)
		if err == nil {
			c.Close()
			t.Errorf("%s still accepts connections after cleanup", a)
		}
	}
}

// TestIntegrationEtcdClusterKillRestart starts a 3-member cluster, kills one member (the other
// two stay healthy), restarts it, and sees it healthy again.
func TestIntegrationEtcdClusterKillRestart(t *testing.T) {
	e := StartEtcdCluster(t, 3, EtcdOptions{})
	for _, ep := range e.Endpoints() {
		if !strings.HasPrefix(ep, "http://127.0.0.1:") {
			t.Errorf("endpoint %s is not on loopback", ep)
		}
	}
	e.Members[0].Kill()
	e.Members[1].WaitHealthy()
	e.Members[2].WaitHealthy()
	e.Members[0].Restart()
	e.Members[0].WaitHealthy()
}

// TestIntegrationEtcdTLS starts a member that requires client certificates and checks its
// health over TLS with the generated client certificate.
func TestIntegrationEtcdTLS(t *testing.T) {
	e := StartEtcd(t, EtcdOptions{TLS: true})
	if !strings.HasPrefix(e.Endpoints()[0], "https://127.0.0.1:") || e.TLS == nil {
		t.Fatalf("TLS member at %v, files %+v", e.Endpoints(), e.TLS)
	}
	e.Members[0].WaitHealthy()
}

// TestIntegrationStopAndStartAgain stops Prometheus and starts it again: the port is closed
// in between, and the server answers on the same URL afterwards.
func TestIntegrationStopAndStartAgain(t *testing.T) {
	prom := StartPrometheusServer(t, PromOptions{})
	get := func() error {
		resp, err := http.Get(prom.URL + "/-/ready")
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	}
	if err := get(); err != nil {
		t.Fatalf("before Stop: %v", err)
	}
	prom.Stop()
	if c, err := net.DialTimeout("tcp", prom.Addr, time.Second); err == nil {
		c.Close()
		t.Fatalf("%s still accepts connections after Stop", prom.Addr)
	}
	prom.Start()
	if err := get(); err != nil {
		t.Fatalf("after Start: %v", err)
	}
	if !strings.HasPrefix(prom.URL, "http://127.0.0.1:") {
		t.Errorf("URL %s is not on 127.0.0.1", prom.URL)
	}
}
