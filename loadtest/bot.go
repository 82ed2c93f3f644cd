package loadtest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// BotSpec is what a scenario configures of the bot; Start fills in the rest: data directory,
// HTTP address, log, console and the script the rule proposes.
type BotSpec struct {
	Prometheus string           // base URL of the fake Prometheus; empty: none
	Checks     []map[string]any // the checks section
	Rules      string           // the one rule file; empty: none
	Notify     map[string]any   // the notify section; nil: the defaults
}

// Bot is the real smartcloudops binary under load. Its console is on (cards are printed to
// console.txt) and reads a pipe the harness never writes to; its log goes to bot.log. It can
// be stopped, killed and started again on the same data and port.
type Bot struct {
	Bin     string
	Dir     string
	DataDir string
	URL     string
	Key     string // a viewer API key, made before the first start
	port    int
	config  string
	cfg     map[string]any
	starts  int

	cmd   *exec.Cmd
	stdin *os.File
	done  chan struct{}
	err   error
	cpuMu sync.Mutex
	cpu   float64 // CPU seconds of the runs that ended
}

// okScript is the action the harness's rules propose; nothing approves it, so it never runs.
const okScript = "#!/bin/sh\nexit 0\n"

// NewBot writes the bot's files under dir and makes its API key; Start runs it.
func NewBot(ctx context.Context, bin, dir string, spec BotSpec) (*Bot, error) {
	b := &Bot{Bin: bin, Dir: dir, DataDir: filepath.Join(dir, "data"), config: filepath.Join(dir, "smartcloudops.yaml")}
	scripts := filepath.Join(dir, "scripts")
	if err := os.MkdirAll(scripts, 0o750); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(scripts, "ok.sh"), []byte(okScript), 0o750); err != nil { // #nosec G306 -- an action script
		return nil, err
	}
	checks := spec.Checks
	if checks == nil {
		checks = []map[string]any{}
	}
	b.cfg = map[string]any{
		"data_dir": b.DataDir,
		"log":      map[string]any{"level": "info", "format": "json"},
		"console":  map[string]any{"enabled": true, "user": "load"},
		"checks":   checks,
		"actions":  map[string]any{"script": map[string]any{"dir": scripts}},
		"rules":    map[string]any{"paths": []string{}},
	}
	if spec.Prometheus != "" {
		b.cfg["prometheus"] = map[string]any{"url": spec.Prometheus, "timeout": "60s"}
	}
	if spec.Notify != nil {
		b.cfg["notify"] = spec.Notify
	}
	if spec.Rules != "" {
		path := filepath.Join(dir, "rules.yaml")
		if err := os.WriteFile(path, []byte(spec.Rules), 0o600); err != nil {
			return nil, err
		}
		b.cfg["rules"] = map[string]any{"paths": []string{path}}
	}
	out, err := exec.CommandContext(ctx, bin, "apikey", "create", "--name", "load", "--role", "viewer", "--data-dir", b.DataDir).Output() // #nosec G204 -- the binary under test
	if err != nil {
		return nil, fmt.Errorf("apikey create: %w", exitDetail(err))
	}
	b.Key = strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
	if !strings.HasPrefix(b.Key, "sco_") {
		return nil, fmt.Errorf("apikey create printed %q, not a key", clip(out, 80))
	}
	return b, nil
}

func exitDetail(err error) error {
	var ee *exec.ExitError
	if errors.As(err, &ee) && len(ee.Stderr) > 0 {
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(string(ee.Stderr)))
	}
	return err
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Start runs the binary (again) and waits until /readyz answers 200 or ctx ends. The first start
// picks a port; later ones keep it, as a restarted bot keeps its address.
func (b *Bot) Start(ctx context.Context) error {
	if b.cmd != nil && !b.exited() {
		return errors.New("bot: start: still running")
	}
	if b.port == 0 {
		p, err := freePort()
		if err != nil {
			return err
		}
		b.port = p
	}
	b.URL = fmt.Sprintf("http://127.0.0.1:%d", b.port)
	b.cfg["listen"] = fmt.Sprintf("127.0.0.1:%d", b.port)
	data, err := json.MarshalIndent(b.cfg, "", "  ") // JSON is YAML
	if err != nil {
		return err
	}
	if err := os.WriteFile(b.config, data, 0o600); err != nil {
		return err
	}
	logf, err := os.OpenFile(filepath.Join(b.Dir, "bot.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	console, err := os.OpenFile(filepath.Join(b.Dir, "console.txt"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer console.Close()
	b.starts++
	fmt.Fprintf(logf, "--- start %d at %s ---\n", b.starts, time.Now().UTC().Format(time.RFC3339Nano))
	// The console reads a pipe that stays open and silent, so it neither ends nor reads a command.
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	cmd := exec.Command(b.Bin, "serve", "--config", b.config) // #nosec G204 -- the binary under test
	cmd.Dir, cmd.Stdin, cmd.Stdout, cmd.Stderr = b.Dir, r, console, logf
	cmd.Env = append(os.Environ(), "TZ=UTC")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return fmt.Errorf("start the bot: %w", err)
	}
	r.Close()
	b.cmd, b.stdin, b.done, b.err = cmd, w, make(chan struct{}), nil
	go func() {
		err := cmd.Wait()
		b.err = err
		if ps := cmd.ProcessState; ps != nil {
			b.cpuMu.Lock()
			b.cpu += ps.UserTime().Seconds() + ps.SystemTime().Seconds()
			b.cpuMu.Unlock()
		}
		close(b.done)
	}()
	return b.waitReady(ctx)
}

func (b *Bot) exited() bool {
	select {
	case <-b.done:
		return true
	default:
		return false
	}
}

func (b *Bot) waitReady(ctx context.Context) error {
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		resp, err := client.Get(b.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if b.exited() {
			return fmt.Errorf("the bot exited before it was ready (%v); %s", b.err, b.logTail())
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the bot was not ready at %s/readyz: %w", b.URL, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// logTail is the end of the bot's log, to say why it stopped.
func (b *Bot) logTail() string {
	path := filepath.Join(b.Dir, "bot.log")
	data, err := os.ReadFile(path)
	if err != nil {
		return "no log: " + err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	return fmt.Sprintf("the end of %s:\n%s", path, strings.Join(lines[max(len(lines)-8, 0):], "\n"))
}

// PID is the running process' id, 0 when none runs.
func (b *Bot) PID() int {
	if b.cmd == nil || b.exited() {
		return 0
	}
	return b.cmd.Process.Pid
}

// Stop sends SIGTERM and says how long the bot took to exit; after grace it is killed, and
// the error says so.
func (b *Bot) Stop(grace time.Duration) (time.Duration, error) {
	if b.cmd == nil || b.exited() {
		return 0, nil
	}
	start := time.Now()
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.done:
		b.stdin.Close()
		return time.Since(start), nil
	case <-time.After(grace):
		b.Kill()
		return time.Since(start), fmt.Errorf("the bot did not exit within %s of SIGTERM; killed", grace)
	}
}

// Kill sends SIGKILL and waits until the process is gone.
func (b *Bot) Kill() {
	if b.cmd == nil || b.exited() {
		return
	}
	_ = b.cmd.Process.Kill()
	<-b.done
	b.stdin.Close()
}

// CPU is the CPU time the bot has used, in seconds, over every run so far.
func (b *Bot) CPU() float64 {
	b.cpuMu.Lock()
	done := b.cpu
	b.cpuMu.Unlock()
	pid := b.PID()
	if pid == 0 {
		return done
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return done
	}
	// The fields after the command name (which may hold spaces) start after its ")".
	i := strings.LastIndexByte(string(data), ')')
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 13 {
		return done
	}
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return done + (utime+stime)/clockTicks
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat times; 100 on every Linux the bot runs on.
const clockTicks = 100

// Scrape reads the bot's metrics.
func (b *Bot) Scrape(ctx context.Context) (Metrics, error) {
	return Scrape(ctx, &http.Client{Timeout: time.Minute}, b.URL)
}

// API returns a client of the bot's REST API.
func (b *Bot) API() *APIClient { return NewAPIClient(b.URL, b.Key) }

// StoreSize is the size of the bbolt file.
func (b *Bot) StoreSize() int64 {
	st, err := os.Stat(filepath.Join(b.DataDir, "smartcloudops.db"))
	if err != nil {
		return 0
	}
	return st.Size()
}

// ProcStatus reads VmRSS and VmHWM (bytes) of the running bot from /proc.
func (b *Bot) ProcStatus() (rss, hwm int64) {
	m := b.ProcMemory()
	return m.RSS, m.HWM
}

// ProcMemory is the bot's resident memory from /proc/PID/status, in bytes: VmRSS, VmHWM (its
// peak), and of the RSS the anonymous pages (RssAnon: the Go heap and stacks) and the file pages
// (RssFile: the binary and the mapped bbolt file, which the kernel can reclaim).
type ProcMemory struct{ RSS, HWM, Anon, File int64 }

// ProcMemory reads the running bot's ProcMemory; zeros when it is not running.
func (b *Bot) ProcMemory() ProcMemory {
	var m ProcMemory
	pid := b.PID()
	if pid == 0 {
		return m
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return m
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			m.RSS = kb << 10
		case "VmHWM":
			m.HWM = kb << 10
		case "RssAnon":
			m.Anon = kb << 10
		case "RssFile":
			m.File = kb << 10
		}
	}
	return m
}

// WriteBytes is what the bot has written so far: write_bytes (to storage) and wchar (every
// write call, the log and console included) from /proc/PID/io.
func (b *Bot) WriteBytes() (storage, calls int64) {
	pid := b.PID()
	if pid == 0 {
		return 0, 0
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return 0, 0
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		switch k {
		case "write_bytes":
			storage = n
		case "wchar":
			calls = n
		}
	}
	return storage, calls
}
