package testenv

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// EtcdOptions configures StartEtcd and StartEtcdCluster.
type EtcdOptions struct {
	// TLS serves clients over TLS with a CA the test generates and requires a client
	// certificate signed by it (--client-cert-auth); Etcd.TLS holds the files.
	TLS bool
	// Args are further flags for every member, such as --auto-compaction-retention=10m.
	Args []string
}

// EtcdTLSFiles are the PEM files of a TLS etcd: the CA, and a client certificate and key it
// accepts.
type EtcdTLSFiles struct {
	CAFile, CertFile, KeyFile string
	// OtherCA is a CA the server does not trust, with a client certificate it signed, for
	// tests of a wrong certificate.
	OtherCertFile, OtherKeyFile string
}

// EtcdMember is one etcd process of a test cluster.
type EtcdMember struct {
	t         testing.TB
	Name      string
	ClientURL string // http(s)://127.0.0.1:port
	dir, bin  string
	args      []string
	health    *http.Client

	mu   sync.Mutex
	proc *process
}

// Etcd is a running single member or cluster.
type Etcd struct {
	Members []*EtcdMember
	TLS     *EtcdTLSFiles // set when started with EtcdOptions.TLS
}

// Endpoints returns the client URLs of every member.
func (e *Etcd) Endpoints() []string {
	var out []string
	for _, m := range e.Members {
		out = append(out, m.ClientURL)
	}
	return out
}

// StartEtcd starts a single etcd member from Debian's etcd-server on free loopback client and
// peer ports, its data in t.TempDir(), and waits until it reports healthy.
func StartEtcd(t testing.TB, o EtcdOptions) *Etcd {
	t.Helper()
	return StartEtcdCluster(t, 1, o)
}

// StartEtcdCluster starts an n-member etcd cluster on loopback and waits until every member
// reports healthy (a leader is elected). Members can be killed and restarted.
func StartEtcdCluster(t testing.TB, n int, o EtcdOptions) *Etcd {
	t.Helper()
	bin := lookBinary(t, "etcd-server", "etcd")
	root := t.TempDir()
	e := &Etcd{}
	scheme := "http"
	var tlsArgs []string
	health := &http.Client{Timeout: 2 * time.Second}
	if o.TLS {
		e.TLS = writeTestCerts(t, filepath.Join(root, "tls"))
		scheme = "https"
		tlsArgs = []string{"--cert-file=" + filepath.Join(root, "tls", "server.pem"),
			"--key-file=" + filepath.Join(root, "tls", "server-key.pem"),
			"--trusted-ca-file=" + e.TLS.CAFile, "--client-cert-auth"}
		cfg, err := ClientTLS(e.TLS.CAFile, e.TLS.CertFile, e.TLS.KeyFile)
		if err != nil {
			t.Fatalf("testenv: etcd TLS: %v", err)
		}
		health.Transport = &http.Transport{TLSClientConfig: cfg}
	}
	var peers []string
	for i := range n {
		name := fmt.Sprintf("m%d", i)
		client, peer := FreePort(t), FreePort(t)
		m := &EtcdMember{t: t, Name: name, ClientURL: fmt.Sprintf("%s://127.0.0.1:%d", scheme, client),
			dir: filepath.Join(root, name), bin: bin, health: health}
		peerURL := fmt.Sprintf("http://127.0.0.1:%d", peer)
		peers = append(peers, name+"="+peerURL)
		m.args = append([]string{
			"--name=" + name,
			"--data-dir=" + filepath.Join(m.dir, "data"),
			"--listen-client-urls=" + m.ClientURL,
			"--advertise-client-urls=" + m.ClientURL,
			"--listen-peer-urls=" + peerURL,
			"--initial-advertise-peer-urls=" + peerURL,
			"--initial-cluster-token=testenv",
			"--initial-cluster-state=new",
			"--logger=zap",
			"--log-outputs=stderr",
		}, tlsArgs...)
		m.args = append(m.args, o.Args...)
		if err := os.MkdirAll(m.dir, 0o750); err != nil {
			t.Fatalf("testenv: %v", err)
		}
		e.Members = append(e.Members, m)
	}
	for _, m := range e.Members {
		m.args = append(m.args, "--initial-cluster="+strings.Join(peers, ","))
		m.proc = start(t, "etcd-"+m.Name, m.dir, m.bin, m.args...)
	}
	for _, m := range e.Members {
		if err := m.waitHealthy(); err != nil {
			t.Fatalf("testenv: %v; last lines of %s:\n%s", err, m.proc.logPath, tail(m.proc.logPath, 40))
		}
	}
	return e
}

// Kill ends the member at once with SIGKILL, as a crashed host would.
func (m *EtcdMember) Kill() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.proc.kill()
}

// Restart starts a killed member again on the same ports and data. It does not wait for the
// member to be healthy: without quorum it cannot be; WaitHealthy does.
func (m *EtcdMember) Restart() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.proc.kill()
	m.proc = start(m.t, "etcd-"+m.Name, m.dir, m.bin, m.args...)
}

// WaitHealthy waits until the member reports healthy, failing the test after ReadyTimeout.
func (m *EtcdMember) WaitHealthy() {
	m.t.Helper()
	if err := m.waitHealthy(); err != nil {
		m.t.Fatalf("testenv: %v", err)
	}
}

// waitHealthy polls the member's /health, which answers 200 once it has a leader.
func (m *EtcdMember) waitHealthy() error {
	m.mu.Lock()
	p := m.proc
	m.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), ReadyTimeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, m.ClientURL+"/health", nil)
		resp, err := m.health.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Errorf("HTTP %d", resp.StatusCode)
		} else {
			last = err
		}
		select {
		case <-p.done:
			return &exitError{name: p.name, err: p.waitErr}
		case <-ctx.Done():
			return fmt.Errorf("etcd member %s not healthy at %s within %s (last: %v)", m.Name, m.ClientURL, ReadyTimeout, last)
		case <-tick.C:
		}
	}
}

// ClientTLS builds a client TLS configuration from PEM files.
func ClientTLS(caFile, certFile, keyFile string) (*tls.Config, error) {
	ca, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("%s holds no PEM certificate", caFile)
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}
