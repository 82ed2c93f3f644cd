//go:build scenarios

package scenarios

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/smartcloudops/smartcloudops/internal/testenv"
)

// botSpec is what a story configures; startBot fills in the rest (data dir, HTTP address,
// console, the script directory).
type botSpec struct {
	Prometheus   string         // base URL of Prometheus; empty: none
	Alertmanager map[string]any // the alertmanager section; nil: none
	Checks       []map[string]any
	Rules        string            // content of the one rule file; empty: no rules
	Port         int               // HTTP port; 0 picks a free one
	Store        map[string]any    // the store section; nil: the bbolt file under data_dir
	RanFile      string            // the file record.sh appends to; empty: ran.log in the story's dir
	Scripts      map[string]string // more allow-listed scripts, by file name
	Notify       map[string]any    // the notify section; nil: the defaults
	Artifacts    string            // the subdirectory of the test's artifacts for this bot's; empty: none
}

// bot is the real smartcloudops binary serving one story: its console is a pipe the test writes
// commands to, its standard output is read into a transcript, and its log goes to a file. It can
// be stopped, killed and started again on the same data directory and port.
type bot struct {
	t       *testing.T
	spec    botSpec
	dir     string // the story's files: config, rules, scripts, data
	dataDir string
	config  string
	ran     string // the file the script action appends its arguments to
	logPath string
	URL     string // http://127.0.0.1:port of its HTTP server
	port    int
	tr      *transcript
	marks   int
	cfg     map[string]any

	mu    sync.Mutex
	run   int // how many times it was started
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan struct{}
	err   error // how the last run ended, once done is closed
}

// user is who types at the console; with no console users named in roles, they are admin.
const user = "alice"

// recordScript is the allow-listed action: it appends its arguments to a file the test reads,
// so "the action ran, once, with these arguments" is observable.
const recordScript = `#!/bin/sh
printf '%%s\n' "$*" >> '%s'
echo "recorded: $*"
`

// startBot writes the story's configuration and starts the binary on it.
func startBot(t *testing.T, spec botSpec) *bot {
	t.Helper()
	dir := t.TempDir()
	b := &bot{t: t, spec: spec, dir: dir, dataDir: filepath.Join(dir, "data"), config: filepath.Join(dir, "smartcloudops.yaml"),
		ran: filepath.Join(dir, "ran.log"), logPath: filepath.Join(dir, "bot.log"), tr: newTranscript(), port: spec.Port}
	if spec.RanFile != "" {
		b.ran = spec.RanFile
	}
	scripts := filepath.Join(dir, "scripts")
	must(t, os.MkdirAll(scripts, 0o750))
	must(t, os.WriteFile(filepath.Join(scripts, "record.sh"), []byte(fmt.Sprintf(recordScript, b.ran)), 0o750)) // #nosec G306 -- the action runs it
	for name, content := range spec.Scripts {
		must(t, os.WriteFile(filepath.Join(scripts, name), []byte(content), 0o750)) // #nosec G306 -- the action runs it
	}
	cfg := map[string]any{
		"data_dir": b.dataDir,
		"log":      map[string]any{"level": "info", "format": "json"},
		"console":  map[string]any{"enabled": true, "user": user},
		"checks":   spec.Checks,
		"actions":  map[string]any{"script": map[string]any{"dir": scripts, "timeout": "30s"}},
	}
	if cfg["checks"] == nil {
		cfg["checks"] = []any{}
	}
	if spec.Prometheus != "" {
		cfg["prometheus"] = map[string]any{"url": spec.Prometheus, "timeout": "5s"}
	}
	if spec.Alertmanager != nil {
		cfg["alertmanager"] = spec.Alertmanager
	}
	if spec.Store != nil {
		cfg["store"] = spec.Store
	}
	if spec.Notify != nil {
		cfg["notify"] = spec.Notify
	}
	if spec.Rules != "" {
		rules := filepath.Join(dir, "rules.yaml")
		must(t, os.WriteFile(rules, []byte(spec.Rules), 0o600))
		cfg["rules"] = map[string]any{"paths": []string{rules}}
	} else {
		cfg["rules"] = map[string]any{"paths": []string{}}
	}
	b.cfg = cfg
	t.Cleanup(func() {
		b.shutdown()
		b.saveArtifacts()
		if t.Failed() {
			t.Logf("console transcript:\n%s", b.tr.String())
			t.Logf("bot log, last lines (%s):\n%s", b.logPath, tailFile(b.logPath, 60))
		}
	})
	b.start()
	return b
}

// start runs the binary (again) on the bot's configuration and data, and waits until its HTTP
// server says it is ready. A first start on a port another process took in the meantime is
// tried again on another port.
func (b *bot) start() {
	b.t.Helper()
	first := b.port == 0 // no port chosen by the story or by an earlier start
	for attempt := 1; ; attempt++ {
		if first {
			b.port = testenv.FreePort(b.t)
		}
		b.URL = fmt.Sprintf("http://127.0.0.1:%d", b.port)
		b.cfg["listen"] = fmt.Sprintf("127.0.0.1:%d", b.port)
		data, err := json.MarshalIndent(b.cfg, "", "  ") // JSON is YAML, with every value quoted safely
		must(b.t, err)
		must(b.t, os.WriteFile(b.config, data, 0o600))
		b.launch()
		err = b.waitReady()
		if err == nil {
			return
		}
		if first && attempt < 3 && strings.Contains(tailFile(b.logPath, 5), "address already in use") {
			b.t.Logf("port %d was taken; starting the bot on another", b.port)
			b.mu.Lock()
			b.run--
			b.mu.Unlock()
			continue
		}
		b.t.Fatalf("%v; its log:\n%s", err, tailFile(b.logPath, 40))
	}
}

// launch starts the process.
func (b *bot) launch() {
	b.t.Helper()
	if err := b.launchErr(); err != nil {
		b.t.Fatal(err)
	}
}

// launchErr starts the process, or says why it could not; it may be called from any goroutine.
func (b *bot) launchErr() error {
	b.mu.Lock()
	if b.cmd != nil {
		select {
		case <-b.done:
		default:
			b.mu.Unlock()
			return errors.New("start: the bot is still running")
		}
	}
	b.run++
	run := b.run
	logFile, err := os.OpenFile(b.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		b.mu.Unlock()
		return err
	}
	fmt.Fprintf(logFile, "--- run %d at %s ---\n", run, time.Now().UTC().Format(time.RFC3339Nano))
	cmd := exec.Command(suite.bin, "serve", "--config", b.config) // #nosec G204 -- the binary under test
	cmd.Dir = b.dir
	cmd.Env = append(os.Environ(), "TZ=UTC")
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := cmd.StdinPipe()
	if err == nil {
		var stdout io.ReadCloser
		if stdout, err = cmd.StdoutPipe(); err == nil {
			if err = cmd.Start(); err == nil {
				b.cmd, b.stdin, b.done = cmd, stdin, make(chan struct{})
				go b.read(run, stdout, cmd, logFile)
			}
		}
	}
	b.mu.Unlock()
	if err != nil {
		logFile.Close()
		return fmt.Errorf("start the bot: %w", err)
	}
	return nil
}

// read copies the bot's output into the transcript until it ends, then reaps the process.
func (b *bot) read(run int, stdout io.Reader, cmd *exec.Cmd, logFile *os.File) {
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		b.tr.add(run, sc.Text())
	}
	err := cmd.Wait()
	logFile.Close()
	b.mu.Lock()
	b.err = err
	close(b.done)
	b.mu.Unlock()
}

func (b *bot) exited() (bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case <-b.done:
		return true, b.err
	default:
		return false, nil
	}
}

// waitReady waits until the bot answers /readyz with 200.
func (b *bot) waitReady() error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(patience)
	for {
		resp, err := client.Get(b.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if done, werr := b.exited(); done {
			return fmt.Errorf("the bot exited before it was ready (%v)", werr)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the bot was not ready at %s/readyz within %s (last: %v)", b.URL, patience, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// send types one command at the console.
func (b *bot) send(command string) {
	b.t.Helper()
	b.mu.Lock()
	w := b.stdin
	b.mu.Unlock()
	if _, err := io.WriteString(w, command+"\n"); err != nil {
		b.t.Fatalf("send %q: %v", command, err)
	}
}

// ask types a command and returns the bot's reply: the lines it printed after the command
// that are not cards or thread replies. The console answers commands in order, so the reply
// to a marker command typed right after it shows where the reply ends.
func (b *bot) ask(command string) string {
	b.t.Helper()
	b.marks++
	marker := fmt.Sprintf("end-of-reply-%d", b.marks)
	from := b.tr.len()
	b.send(command)
	b.send(marker)
	end := regexp.MustCompile(`^unknown command "` + marker + `"`)
	var reply []string
	b.await(fmt.Sprintf("the reply to %q", command), func(lines []line, p parsed) bool {
		reply = reply[:0]
		for _, i := range p.other {
			if i < from {
				continue
			}
			if end.MatchString(lines[i].text) {
				return true
			}
			reply = append(reply, lines[i].text)
		}
		return false
	})
	return strings.Join(reply, "\n")
}

// patience bounds every wait for an outcome: generous, so a loaded machine slows a story
// down without failing it.
const patience = 3 * time.Minute

// await waits until cond holds for the transcript, checking at every new line and every half
// second, for at most patience. On timeout it fails the test with the transcript.
func (b *bot) await(what string, cond func(lines []line, p parsed) bool) {
	b.t.Helper()
	deadline := time.NewTimer(patience)
	defer deadline.Stop()
	for {
		lines, changed := b.tr.snapshot()
		if cond(lines, parse(lines)) {
			return
		}
		select {
		case <-changed:
		case <-time.After(500 * time.Millisecond):
		case <-deadline.C:
			b.t.Fatalf("waited %s for %s; it did not happen.%s (The console transcript follows.)", patience, what, b.exitNote())
		}
	}
}

func (b *bot) exitNote() string {
	if done, err := b.exited(); done {
		return fmt.Sprintf(" The bot had exited (%v).", err)
	}
	return ""
}

// waitCard waits for a card, posted or updated, that satisfies ok and returns the first one.
func (b *bot) waitCard(what string, ok func(card) bool) card {
	b.t.Helper()
	var found card
	b.await(what, func(_ []line, p parsed) bool {
		for _, c := range p.cards {
			if ok(c) {
				found = c
				return true
			}
		}
		return false
	})
	return found
}

// waitThread waits for a thread reply that satisfies ok.
func (b *bot) waitThread(what string, ok func(thread) bool) thread {
	b.t.Helper()
	var found thread
	b.await(what, func(_ []line, p parsed) bool {
		for _, th := range p.threads {
			if ok(th) {
				found = th
				return true
			}
		}
		return false
	})
	return found
}

// cards returns every card printed so far.
func (b *bot) cards() []card {
	lines, _ := b.tr.snapshot()
	return parse(lines).cards
}

// eventually asks command until its reply satisfies ok, and returns that reply.
func (b *bot) eventually(command, what string, ok func(reply string) bool) string {
	b.t.Helper()
	deadline := time.Now().Add(patience)
	for {
		reply := b.ask(command)
		if ok(reply) {
			return reply
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("waited %s for %s; the last reply to %q was:\n%s%s", patience, what, command, reply, b.exitNote())
		}
		time.Sleep(time.Second)
	}
}

// stop sends SIGTERM and waits for the bot to exit, as a service manager stops it.
func (b *bot) stop() {
	b.t.Helper()
	if err := b.signal(syscall.SIGTERM, time.Minute); err != nil {
		b.t.Fatalf("stop: %v", err)
	}
	if _, err := b.exited(); err != nil {
		b.t.Errorf("the bot exited with %v after SIGTERM; its log:\n%s", err, tailFile(b.logPath, 40))
	}
}

// kill ends the bot with SIGKILL, as a crash or an OOM kill would.
func (b *bot) kill() {
	b.t.Helper()
	if err := b.signal(syscall.SIGKILL, time.Minute); err != nil {
		b.t.Fatalf("kill: %v", err)
	}
}

// restart stops the bot with SIGTERM and starts it again on the same data and port.
func (b *bot) restart() {
	b.t.Helper()
	b.stop()
	b.start()
}

func (b *bot) signal(sig syscall.Signal, wait time.Duration) error {
	b.mu.Lock()
	cmd, done, stdin := b.cmd, b.done, b.stdin
	b.mu.Unlock()
	if cmd == nil {
		return nil
	}
	select {
	case <-done:
		return nil
	default:
	}
	if err := cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case <-done:
	case <-time.After(wait):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		return fmt.Errorf("the bot did not exit within %s of %s; killed", wait, sig)
	}
	stdin.Close()
	// Scripts the bot started belong to its process group; none may outlive it.
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	return nil
}

// shutdown ends the bot at the end of the story, whatever state it is in.
func (b *bot) shutdown() {
	if err := b.signal(syscall.SIGTERM, time.Minute); err != nil {
		b.t.Errorf("shutdown: %v", err)
	}
}

// ranLines returns the lines the script action wrote, one per run.
func (b *bot) ranLines() []string {
	data, err := os.ReadFile(b.ran)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	must(b.t, err)
	return strings.Split(strings.TrimRight(string(data), "\n"), "\n")
}

// metric returns the value of one sample of the bot's /metrics, such as
// `smartcloudops_detector_points_total{check="x"}`, or 0 when it is absent.
func (b *bot) metric(sample string) float64 {
	b.t.Helper()
	resp, err := http.Get(b.URL + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, l := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(l, sample+" "); ok {
			f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f
		}
	}
	return 0
}

// waitScored waits until the check has scored n more points than now, so the story knows the
// bot is watching the series, or how much of it the bot has seen.
func (b *bot) waitScored(check string, n float64) {
	b.t.Helper()
	b.waitCounter(fmt.Sprintf(`smartcloudops_detector_points_total{check=%q}`, check), n)
}

// waitCounter waits until a counter of the bot's /metrics has grown by n. The counters it is
// used with grow about once a second, so the deadline allows two seconds for each on top of
// the usual patience.
func (b *bot) waitCounter(sample string, n float64) {
	b.t.Helper()
	want := b.metric(sample) + n
	limit := patience + time.Duration(2*n)*time.Second
	deadline := time.Now().Add(limit)
	for b.metric(sample) < want {
		if time.Now().After(deadline) {
			b.t.Fatalf("%s did not grow by %v within %s%s", sample, n, limit, b.exitNote())
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// auditVerify runs `smartcloudops audit verify` on the stopped bot's data directory.
func (b *bot) auditVerify() string {
	b.t.Helper()
	out, err := exec.Command(suite.bin, "audit", "verify", "--data-dir", b.dataDir).CombinedOutput() // #nosec G204 -- the binary under test
	if err != nil {
		b.t.Fatalf("audit verify: %v\n%s", err, out)
	}
	return string(out)
}

// saveArtifacts keeps the transcript, log and configuration with the test's artifacts.
func (b *bot) saveArtifacts() {
	dir := filepath.Join(b.t.ArtifactDir(), b.spec.Artifacts)
	_ = os.MkdirAll(dir, 0o750)
	_ = os.WriteFile(filepath.Join(dir, "console.txt"), []byte(b.tr.String()), 0o600)
	for _, f := range []string{b.logPath, b.config, b.ran, filepath.Join(b.dir, "rules.yaml")} {
		if data, err := os.ReadFile(f); err == nil {
			_ = os.WriteFile(filepath.Join(dir, filepath.Base(f)), data, 0o600)
		}
	}
}

func tailFile(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	lines := strings.Split(string(bytes.TrimRight(data, "\n")), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
