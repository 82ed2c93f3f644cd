package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ReadyTimeout bounds how long a server may take to become ready.
const ReadyTimeout = 30 * time.Second

// stopGrace is how long a server gets to exit after SIGTERM before it is killed.
const stopGrace = 5 * time.Second

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// lookBinary finds one of names on PATH (or in /usr/bin and /usr/sbin) or skips the test.
func lookBinary(t testing.TB, pkg string, names ...string) string {
	t.Helper()
	if p, ok := findBinary(names...); ok {
		return p
	}
	t.Skipf("testenv: %s is not installed (Debian package %s); run scripts/install-test-deps.sh — "+
		"the CI integration target installs it, so this test does not skip there", names[0], pkg)
	return ""
}

// findBinary returns the path of the first of names found on PATH or in /usr/bin and /usr/sbin.
func findBinary(names ...string) (string, bool) {
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p, true
		}
		for _, dir := range []string{"/usr/bin", "/usr/sbin"} {
			p := filepath.Join(dir, n)
			if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
				return p, true
			}
		}
	}
	return "", false
}

// servers lists the binaries this package starts, each with its Debian package and the other
// names it goes by.
var servers = []struct {
	pkg   string
	names []string
}{
	{"prometheus", []string{"prometheus"}},
	{"prometheus-node-exporter", []string{"prometheus-node-exporter", "node_exporter"}},
	{"prometheus-alertmanager", []string{"prometheus-alertmanager", "alertmanager"}},
	{"etcd-server", []string{"etcd"}},
}

// Missing names the Debian packages whose servers are not installed, so a suite that must not
// skip (the scenarios) can fail at once with what to install instead of skipping test by test.
func Missing() []string {
	var out []string
	for _, s := range servers {
		if _, ok := findBinary(s.names...); !ok {
			out = append(out, s.pkg)
		}
	}
	return out
}

// process is one started server.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	waitErr error
}

// start runs bin with args in dir, its own process group, output in dir/<name>.log, and
// registers its cleanup: stop it and, if the test failed, print the log's tail.
func start(t testing.TB, name, dir, bin string, args ...string) *process {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	// Appended to, so a server started again keeps the log of its earlier run.
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatalf("testenv: %s: create log: %v", name, err)
	}
	cmd := exec.Command(bin, args...) // #nosec G204 -- test servers found on PATH by name
	cmd.Dir = dir
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("testenv: %s: start %s: %v", name, bin, err)
	}
	p := &process{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("testenv: %s log (%s), last lines:\n%s", name, logPath, tail(logPath, 40))
		}
	})
	return p
}

// stop ends the whole process group: SIGTERM, then SIGKILL after stopGrace.
func (p *process) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(stopGrace):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done
	}
}

// kill ends the whole process group with SIGKILL and waits for it, as a crash would.
func (p *process) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

// waitReady polls url until it answers 200. It returns an error when the process exits first
// or ReadyTimeout passes.
func (p *process) waitReady(url string) error {
	ctx, cancel := context.WithTimeout(context.Background(), ReadyTimeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var lastErr error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("%s: readiness request: %w", p.name, err)
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			lastErr = fmt.Errorf("HTTP %d", resp.StatusCode)
		} else {
			lastErr = err
		}
		select {
		case <-p.done:
			return &exitError{name: p.name, err: p.waitErr}
		case <-ctx.Done():
			return fmt.Errorf("%s not ready at %s within %s (last: %v)", p.name, url, ReadyTimeout, lastErr)
		case <-tick.C:
		}
	}
}

type exitError struct {
	name string
	err  error
}

func (e *exitError) Error() string {
	return fmt.Sprintf("%s exited before it was ready (%v)", e.name, e.err)
}

// launchAttempts bounds the retries when another process takes the chosen port first.
const launchAttempts = 3

// Server is a started server. A test can stop it and start it again on the same port with the
// same configuration and data, which is what an outage and its end look like to a client.
type Server struct {
	// URL is the server's base URL, such as "http://127.0.0.1:41234"; Addr is its host:port.
	URL  string
	Addr string

	t         testing.TB
	name, dir string
	bin       string
	args      func(port int) []string
	readyPath string
	port      int

	mu   sync.Mutex
	proc *process
}

// launch starts a server on a free loopback port and waits until readyPath answers 200. args
// builds the command line for a port.
func launch(t testing.TB, name, dir, bin string, args func(port int) []string, readyPath string) *Server {
	t.Helper()
	s := &Server{t: t, name: name, dir: dir, bin: bin, args: args, readyPath: readyPath}
	for attempt := 1; ; attempt++ {
		s.port = FreePort(t)
		err := s.run()
		if err == nil {
			s.Addr = fmt.Sprintf("127.0.0.1:%d", s.port)
			s.URL = "http://" + s.Addr
			return s
		}
		var ee *exitError
		if errors.As(err, &ee) && attempt < launchAttempts && strings.Contains(tail(s.proc.logPath, 20), "address already in use") {
			t.Logf("testenv: %s: port %d was taken; trying another", name, s.port)
			continue
		}
		t.Fatalf("testenv: %v; last lines of %s:\n%s", err, s.proc.logPath, tail(s.proc.logPath, 40))
	}
}

// run starts the process on s.port and waits until it is ready; on failure it is stopped.
func (s *Server) run() error {
	p := start(s.t, s.name, s.dir, s.bin, s.args(s.port)...)
	s.mu.Lock()
	s.proc = p
	s.mu.Unlock()
	if err := p.waitReady(fmt.Sprintf("http://127.0.0.1:%d%s", s.port, s.readyPath)); err != nil {
		p.stop()
		return err
	}
	return nil
}

// Stop ends the server (SIGTERM, then SIGKILL after a grace period) and returns once it exited.
// Its port is closed until Start.
func (s *Server) Stop() {
	s.mu.Lock()
	p := s.proc
	s.mu.Unlock()
	if p != nil {
		p.stop()
	}
}

// Start starts a stopped server again on the same port, with the same configuration and data
// directory, and waits until it is ready. It fails the test when the server cannot come back.
// It must be called from the goroutine running the test, as t.Fatal is.
func (s *Server) Start() {
	s.t.Helper()
	s.mu.Lock()
	p := s.proc
	s.mu.Unlock()
	select {
	case <-p.done:
	default:
		s.t.Fatalf("testenv: %s: Start while it is still running", s.name)
	}
	if err := s.run(); err != nil {
		s.t.Fatalf("testenv: %s again on port %d: %v; last lines of %s:\n%s", s.name, s.port, err, s.proc.logPath, tail(s.proc.logPath, 40))
	}
}

// tail returns the last n lines of the file at path.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read log: %v)", err)
	}
	data = bytes.TrimRight(data, "\n")
	lines := strings.Split(string(data), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// writeFile writes a config file into dir or fails the test.
func writeFile(t testing.TB, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatalf("testenv: write %s: %v", name, err)
	}
	return p
}
