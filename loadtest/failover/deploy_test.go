//go:build loadtest

package failover

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/smartcloudops/smartcloudops/internal/testenv"
)

// restartDelay is the supervisor's wait before starting a replica again (systemd's RestartSec).
const restartDelay = time.Second

// checkName is the check every replica runs while it leads: /proc's load average every second,
// whose ticks show that a new leader is acting.
const checkName = "failover-tick"

// recordScript appends "<tag> <unix nanoseconds>" to a file for each run, so duplicates and
// missing runs can be counted and each run's start time read.
const recordScript = `#!/bin/sh
printf '%%s %%s\n' "$1" "$(date +%%s%%N)" >> '%s'
`

// slowScript appends "start <tag>", sleeps its second argument in seconds, and appends "end <tag>".
const slowScript = `#!/bin/sh
printf 'start %%s\n' "$1" >> '%[1]s'
sleep "$2"
printf 'end %%s\n' "$1" >> '%[1]s'
`

// deployment is three replicas sharing an etcd prefix, their scripts and the files those write.
type deployment struct {
	t        *testing.T
	bin      string
	dir      string
	ran      string // record.sh's file
	slow     string // slow.sh's file
	replicas []*replica
}

// replica is one bot process, started again by its supervisor when it exits or is killed.
type replica struct {
	t      *testing.T
	bin    string
	config string
	log    string
	URL    string
	name   string

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{}
	stopped bool
	exits   int
}

// buildBinary builds the binary under test once into dir.
func buildBinary(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "smartcloudops")
	gotool := filepath.Join(runtime.GOROOT(), "bin", "go")
	if p, err := exec.LookPath("go"); err == nil {
		gotool = p
	}
	out, err := exec.Command(gotool, "build", "-o", bin, "github.com/smartcloudops/smartcloudops/cmd/smartcloudops").CombinedOutput() // #nosec G204 -- the go tool on fixed arguments
	if err != nil {
		t.Fatalf("build the binary: %v\n%s", err, out)
	}
	return bin
}

// deploy writes n replicas' configurations for the etcd cluster, creates the API keys, and
// starts the replicas one after another, so the first leads.
func deploy(t *testing.T, etcd *testenv.Etcd, n int, keys []string) (*deployment, map[string]string) {
	t.Helper()
	dir := t.TempDir()
	d := &deployment{t: t, bin: buildBinary(t, dir), dir: dir, ran: filepath.Join(dir, "ran.log"), slow: filepath.Join(dir, "slow.log")}
	scripts := filepath.Join(dir, "scripts")
	must(t, os.MkdirAll(scripts, 0o750))
	must(t, os.WriteFile(filepath.Join(scripts, "record.sh"), []byte(fmt.Sprintf(recordScript, d.ran)), 0o750)) // #nosec G306 -- the action runs it
	must(t, os.WriteFile(filepath.Join(scripts, "slow.sh"), []byte(fmt.Sprintf(slowScript, d.slow)), 0o750))    // #nosec G306 -- the action runs it
	host, _ := os.Hostname()
	for i := range n {
		rdir := filepath.Join(dir, fmt.Sprintf("replica-%d", i))
		must(t, os.MkdirAll(rdir, 0o750))
		port := testenv.FreePort(t)
		cfg := map[string]any{
			"data_dir": filepath.Join(rdir, "data"),
			"listen":   fmt.Sprintf("127.0.0.1:%d", port),
			"log":      map[string]any{"level": "info", "format": "json"},
			"console":  map[string]any{"enabled": false},
			"checks":   []any{map[string]any{"name": checkName, "source": "procfs", "metric": "load", "schedule": "@every 1s"}},
			"rules":    map[string]any{"paths": []string{}},
			"actions":  map[string]any{"script": map[string]any{"dir": scripts, "timeout": "30s"}},
			"executor": map[string]any{"max_per_hour": 0, "timeout": "30s"},
			"store": map[string]any{"backend": "etcd", "etcd": map[string]any{
				"endpoints": etcd.Endpoints(), "prefix": "/loadtest/failover/", "deployment": "loadtest", "dial_timeout": "2s"}},
		}
		data, err := json.MarshalIndent(cfg, "", "  ")
		must(t, err)
		r := &replica{t: t, bin: d.bin, config: filepath.Join(rdir, "smartcloudops.yaml"), log: filepath.Join(rdir, "bot.log"),
			URL: fmt.Sprintf("http://127.0.0.1:%d", port), name: fmt.Sprintf("%s@127.0.0.1:%d", host, port)}
		must(t, os.WriteFile(r.config, data, 0o600))
		d.replicas = append(d.replicas, r)
	}
	tokens := map[string]string{}
	for _, k := range keys {
		out, err := exec.Command(d.bin, "apikey", "create", "--name", k, "--role", "operator", "--owner", "loadtest:"+k, "--config", d.replicas[0].config).Output() // #nosec G204 -- the binary under test
		if err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				t.Fatalf("apikey create %s: %v\n%s", k, err, ee.Stderr)
			}
			t.Fatalf("apikey create %s: %v", k, err)
		}
		tokens[k] = strings.TrimSpace(string(out))
	}
	for _, r := range d.replicas {
		r.start()
		go r.supervise()
		t.Cleanup(r.stop)
		r.waitReady()
	}
	return d, tokens
}

// start runs the replica's process in its own process group, its log appended to its file.
func (r *replica) start() {
	r.mu.Lock()
	defer r.mu.Unlock()
	logFile, err := os.OpenFile(r.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	must(r.t, err)
	cmd := exec.Command(r.bin, "serve", "--config", r.config) // #nosec G204 -- the binary under test
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		r.t.Errorf("start %s: %v", r.name, err)
		return
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); logFile.Close(); close(done) }()
	r.cmd, r.done = cmd, done
}

// supervise starts the replica again restartDelay after it exits, until stop.
func (r *replica) supervise() {
	for {
		r.mu.Lock()
		done, stopped := r.done, r.stopped
		r.mu.Unlock()
		if stopped {
			return
		}
		<-done
		time.Sleep(restartDelay)
		r.mu.Lock()
		stopped = r.stopped
		if !stopped {
			r.exits++
		}
		r.mu.Unlock()
		if stopped {
			return
		}
		r.start()
	}
}

// kill ends the replica's process group with SIGKILL, as a crash would; it returns at once, and
// the supervisor starts it again. Its script actions run in groups of their own and go on.
func (r *replica) kill() {
	r.mu.Lock()
	cmd := r.cmd
	r.mu.Unlock()
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
}

// stop ends the replica for good: SIGTERM, then SIGKILL after 30 s.
func (r *replica) stop() {
	r.mu.Lock()
	r.stopped = true
	cmd, done := r.cmd, r.done
	r.mu.Unlock()
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

// waitReady waits until /readyz answers 200, for at most two minutes.
func (r *replica) waitReady() {
	r.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !r.ready() {
		if time.Now().After(deadline) {
			r.t.Fatalf("%s not ready within 2 minutes; its log:\n%s", r.name, tail(r.log, 30))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var probe = &http.Client{Timeout: 2 * time.Second}

func (r *replica) ready() bool {
	resp, err := probe.Get(r.URL + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// metrics reads the replica's smartcloudops_leader gauge and the count of its check's ticks;
// ok is false when it does not answer.
func (r *replica) metrics() (leads bool, ticks float64, ok bool) {
	resp, err := probe.Get(r.URL + "/metrics")
	if err != nil {
		return false, 0, false
	}
	defer resp.Body.Close()
	tickSample := fmt.Sprintf(`smartcloudops_detector_tick_duration_seconds_count{check=%q}`, checkName)
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if v, found := strings.CutPrefix(line, "smartcloudops_leader "); found {
			leads = strings.TrimSpace(v) == "1"
		}
		if v, found := strings.CutPrefix(line, tickSample+" "); found {
			ticks, _ = strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return leads, ticks, sc.Err() == nil
}

// leader waits until exactly one replica's gauge says it leads, and returns it.
func (d *deployment) leader() *replica {
	d.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var leaders []*replica
		for _, r := range d.replicas {
			if leads, _, ok := r.metrics(); ok && leads {
				leaders = append(leaders, r)
			}
		}
		if len(leaders) == 1 {
			return leaders[0]
		}
		if len(leaders) > 1 {
			d.t.Errorf("%d replicas report smartcloudops_leader 1 at once", len(leaders))
		}
		if time.Now().After(deadline) {
			d.t.Fatal("no replica led within 2 minutes")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// followers returns every replica but r.
func (d *deployment) followers(r *replica) []*replica {
	var out []*replica
	for _, o := range d.replicas {
		if o != r {
			out = append(out, o)
		}
	}
	return out
}

// lines returns the lines of one of the scripts' files.
func lines(path string) []string {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	s := strings.TrimRight(string(data), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// runs counts record.sh's runs by tag, and returns the start time of each tag's first run.
func runs(path string) (map[string]int, map[string]time.Time) {
	n, at := map[string]int{}, map[string]time.Time{}
	for _, l := range lines(path) {
		tag, ns, ok := strings.Cut(l, " ")
		if !ok {
			continue
		}
		n[tag]++
		if v, err := strconv.ParseInt(ns, 10, 64); err == nil && n[tag] == 1 {
			at[tag] = time.Unix(0, v)
		}
	}
	return n, at
}

func tail(path string, n int) string {
	ls := lines(path)
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	return strings.Join(ls, "\n")
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// drain reads and closes a response body.
func drain(resp *http.Response) []byte {
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return b
}
