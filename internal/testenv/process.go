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
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
		for _, dir := range []string{"/usr/bin", "/usr/sbin"} {
			p := filepath.Join(dir, n)
			if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
				return p
			}
		}
	}
	t.Skipf("testenv: %s is not installed (Debian package %s); run scripts/install-test-deps.sh — "+
		"the CI integration target installs it, so this test does not skip there", names[0], pkg)
	return ""
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
	logFile, err := os.Create(logPath)
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

// launch starts a server on a free loopback port and waits until readyPath answers 200. args
// builds the command line for a port. It returns the port.
func launch(t testing.TB, name, dir, bin string, args func(port int) []string, readyPath string) int {
	t.Helper()
	for attempt := 1; ; attempt++ {
		port := FreePort(t)
		p := start(t, name, dir, bin, args(port)...)
		err := p.waitReady(fmt.Sprintf("http://127.0.0.1:%d%s", port, readyPath))
		if err == nil {
			return port
		}
		p.stop()
		var ee *exitError
		if errors.As(err, &ee) && attempt < launchAttempts && strings.Contains(tail(p.logPath, 20), "address already in use") {
			t.Logf("testenv: %s: port %d was taken; trying another", name, port)
			continue
		}
		t.Fatalf("testenv: %v; last lines of %s:\n%s", err, p.logPath, tail(p.logPath, 40))
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
