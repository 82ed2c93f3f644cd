package app

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/smartcloudops/smartcloudops/internal/config"
	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/internal/store"
	"github.com/smartcloudops/smartcloudops/remediation/audit"
)

// syncBuffer is the console's output, read while the bot writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor polls the console output until re matches, and returns the first submatch.
func (s *syncBuffer) waitFor(t *testing.T, re *regexp.Regexp, within time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(s.String()); m != nil {
			if len(m) > 1 {
				return m[1]
			}
			return m[0]
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("console never showed %v; it shows:\n%s", re, s.String())
	return ""
}

// testConfig replays the bundled demo series into the e2e rule, with a copy of the test script.
func testConfig(t *testing.T, dataDir string) config.Config {
	t.Helper()
	actions := filepath.Join(dataDir, "actions")
	if err := os.MkdirAll(actions, 0o750); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"scale_up.sh", "fail.sh"} {
		b, err := os.ReadFile(filepath.Join("testdata/actions", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(actions, name), b, 0o750); err != nil {
			t.Fatal(err)
		}
	}
	cfg := config.Default()
	cfg.DataDir = dataDir
	cfg.Listen = ""
	cfg.Rules.Paths = []string{"testdata/rules"}
	cfg.Actions.Script.Dir = actions
	cfg.Checks = []config.Check{{Name: "demo-cpu", Source: "replay", File: "../../examples/demo/cpu-spike.csv", Speed: 120,
		Schedule: "@every 1s", Model: "default", Severity: "critical", Unit: "%", Labels: map[string]string{"asg": "web-asg"}}}
	return cfg
}

type running struct {
	once   sync.Once
	in     *io.PipeWriter
	out    *syncBuffer
	cancel context.CancelFunc
	done   chan error
}

func start(t *testing.T, cfg config.Config, st store.Store) *running {
	t.Helper()
	pr, pw := io.Pipe()
	r := &running{in: pw, out: &syncBuffer{}, done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	b, err := Build(ctx, Options{Config: cfg, In: pr, Out: r.out, Logger: obs.Discard(), Environ: []string{}, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	go func() { r.done <- b.Run(ctx) }()
	t.Cleanup(r.stop)
	return r
}

func (r *running) stop() {
	r.once.Do(func() {
		r.cancel()
		r.in.Close()
		<-r.done
	})
}

func (r *running) send(t *testing.T, line string) {
	t.Helper()
	if _, err := io.WriteString(r.in, line+"\n"); err != nil {
		t.Fatal(err)
	}
}

var proposalRE = regexp.MustCompile(`Proposal (p-[0-9a-f]+): script scale_up.sh web-asg 2 3`)

// TestDemoLoop drives the whole flow through the console: the replayed spike becomes an alert
// card with a chart, the rule proposes the script, an approval runs it once, and the audit
// trail verifies.
func TestDemoLoop(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	cfg.Executor.Settle = config.Duration(300 * time.Millisecond)
	r := start(t, cfg, nil)
	id := r.out.waitFor(t, proposalRE, 30*time.Second)
	chart := r.out.waitFor(t, regexp.MustCompile(`chart: (\S+\.png)`), time.Second)
	if st, err := os.Stat(chart); err != nil || st.Size() == 0 {
		t.Fatalf("chart %s not written: %v", chart, err)
	}
	r.out.waitFor(t, regexp.MustCompile(`type "approve `+id+`" or "reject `+id+`"`), time.Second)
	r.send(t, "approve "+id)
	r.out.waitFor(t, regexp.MustCompile(id+` succeeded`), 10*time.Second)
	r.out.waitFor(t, regexp.MustCompile(`scaling web-asg from 2 to 3 instances`), 5*time.Second)
	r.out.waitFor(t, regexp.MustCompile(`Verification `+id+` after 300ms: cleared`), 10*time.Second)
	r.send(t, "approve "+id)
	r.out.waitFor(t, regexp.MustCompile(`proposal `+id+` is already succeeded`), 5*time.Second)
	r.send(t, "history")
	r.out.waitFor(t, regexp.MustCompile(`action.succeeded\s+`+id), 5*time.Second)
	r.send(t, "frobnicate")
	r.out.waitFor(t, regexp.MustCompile(`unknown command "frobnicate"`), 5*time.Second)
	r.stop()

	runs, _ := os.ReadFile(filepath.Join(dir, "actions", "runs.log"))
	if n := strings.Count(string(runs), "run "); n != 1 {
		t.Fatalf("the script ran %d times, want 1", n)
	}
	verifyAudit(t, dir)
}

func verifyAudit(t *testing.T, dir string) {
	t.Helper()
	st, err := store.OpenBolt(filepath.Join(dir, "smartcloudops.db"), store.BoltOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	l, _ := audit.New(audit.Options{Store: st})
	if n, err := l.Verify(context.Background()); err != nil || n < 4 {
		t.Fatalf("audit: %d records, %v", n, err)
	}
}

// TestPendingProposalSurvivesRestart stops the bot with a proposal pending and approves it from
// the next process.
func TestPendingProposalSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	r := start(t, cfg, nil)
	id := r.out.waitFor(t, proposalRE, 30*time.Second)
	r.stop()

	cfg.Checks = nil // nothing new this time
	r2 := start(t, cfg, nil)
	r2.send(t, "proposals")
	r2.out.waitFor(t, regexp.MustCompile(id+`\s+pending`), 5*time.Second)
	r2.send(t, "approve "+id)
	r2.out.waitFor(t, regexp.MustCompile(id+` succeeded`), 10*time.Second)
	r2.stop()
	verifyAudit(t, dir)
}

// TestKilledMidActionIsUnknown kills a bot process while its action runs; the next process
// reports the proposal as unknown and never runs it again.
func TestKilledMidActionIsUnknown(t *testing.T) {
	if os.Getenv("SMARTCLOUDOPS_TEST_CHILD") != "" {
		childBot(t)
		return
	}
	dir := t.TempDir()
	testConfig(t, dir)
	if err := os.WriteFile(filepath.Join(dir, "actions", "slow"), nil, 0o640); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestKilledMidActionIsUnknown$", "-test.v")
	cmd.Env = append(os.Environ(), "SMARTCLOUDOPS_TEST_CHILD="+dir)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The child approves its proposal; wait until the script is running, then kill everything.
	runs := filepath.Join(dir, "actions", "runs.log")
	deadline := time.Now().Add(60 * time.Second)
	for {
		if b, _ := os.ReadFile(runs); len(b) > 0 {
			break
		}
		if time.Now().After(deadline) {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			t.Fatalf("the child never started the action:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	cmd.Wait()

	cfg := testConfig(t, dir)
	cfg.Checks = nil
	os.Remove(filepath.Join(dir, "actions", "slow"))
	r := start(t, cfg, nil)
	r.send(t, "proposals unknown")
	id := r.out.waitFor(t, regexp.MustCompile(`(p-[0-9a-f]+)\s+unknown`), 10*time.Second)
	r.send(t, "approve "+id)
	r.out.waitFor(t, regexp.MustCompile(`proposal `+id+` is already unknown`), 5*time.Second)
	r.stop()
	b, _ := os.ReadFile(runs)
	if n := strings.Count(string(b), "run "); n != 1 {
		t.Fatalf("the action ran %d times, want 1", n)
	}
	verifyAudit(t, dir)
}

// childBot is the process TestKilledMidActionIsUnknown kills: it approves the first proposal.
func childBot(t *testing.T) {
	dir := os.Getenv("SMARTCLOUDOPS_TEST_CHILD")
	cfg := testConfig(t, dir)
	r := start(t, cfg, nil)
	id := r.out.waitFor(t, proposalRE, 30*time.Second)
	r.send(t, "approve "+id)
	time.Sleep(time.Minute) // killed long before this ends
}

// TestRuleDisabledAfterFailures approves a remedy that fails; with max_failures 1 its rule is
// disabled, the card's thread says so, and the audit trail records it.
func TestRuleDisabledAfterFailures(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	cfg.Rules.Paths = []string{"testdata/rules-fail"}
	cfg.Executor.MaxFailures = 1
	r := start(t, cfg, nil)
	id := r.out.waitFor(t, regexp.MustCompile(`Proposal (p-[0-9a-f]+): script fail.sh web-asg`), 30*time.Second)
	r.send(t, "approve "+id)
	r.out.waitFor(t, regexp.MustCompile(id+` failed: .*exit`), 10*time.Second)
	r.out.waitFor(t, regexp.MustCompile(`Rule e2e-broken-remedy is disabled: its action failed 1 times in a row`), 10*time.Second)
	r.send(t, "rules list")
	r.out.waitFor(t, regexp.MustCompile(`e2e-broken-remedy\s+\S+\s+disabled`), 5*time.Second)
	r.send(t, "history e2e-broken-remedy")
	r.out.waitFor(t, regexp.MustCompile(`rule.disabled`), 5*time.Second)
	r.stop()
	verifyAudit(t, dir)
}

// TestDisabledRuleProposalsDoNotRun: disabling a rule voids the approval of its pending proposals.
func TestDisabledRuleProposalsDoNotRun(t *testing.T) {
	dir := t.TempDir()
	r := start(t, testConfig(t, dir), nil)
	id := r.out.waitFor(t, proposalRE, 30*time.Second)
	r.send(t, "rules disable e2e-cpu-spike")
	r.out.waitFor(t, regexp.MustCompile(`Rule e2e-cpu-spike disabled`), 5*time.Second)
	r.send(t, "approve "+id)
	r.out.waitFor(t, regexp.MustCompile(id+` is void: rule e2e-cpu-spike was removed or disabled`), 10*time.Second)
	r.stop()
	if b, _ := os.ReadFile(filepath.Join(dir, "actions", "runs.log")); len(b) != 0 {
		t.Fatalf("a disabled rule's proposal ran: %s", b)
	}
}

// TestRulesTestAndShowInChat replays the check's recent history through one rule from chat.
func TestRulesTestAndShowInChat(t *testing.T) {
	r := start(t, testConfig(t, t.TempDir()), nil)
	r.out.waitFor(t, proposalRE, 30*time.Second)
	r.out.waitFor(t, regexp.MustCompile(`Resolved: demo-cpu`), 30*time.Second) // the whole file is replayed
	r.send(t, "rules test e2e-cpu-spike")
	// The replayed spike began two and a half hours before the series ends, so the last hour
	// holds only the end of the spike and the return to normal: the rule replays 60 points and
	// would propose nothing.
	r.out.waitFor(t, regexp.MustCompile(`Rule e2e-cpu-spike over the last hour \(60 points of check demo-cpu\): would have proposed nothing`), 10*time.Second)
	r.send(t, "rules show e2e-cpu-spike")
	r.out.waitFor(t, regexp.MustCompile(`(?s)Rule e2e-cpu-spike.*when: value > anomaly.upper`), 5*time.Second)
}

// TestRefusedProposalIsOnTheCard: a rule whose action cannot be planned (its script is not in
// the scripts directory) makes no proposal, and the incident's card says why.
func TestRefusedProposalIsOnTheCard(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	dir := t.TempDir()
	rule := `groups:
  - name: e2e
    rules:
      - name: e2e-missing-script
        check: demo-cpu
        when: value > anomaly.upper
        action: {name: script, params: {script: nosuch.sh}}
`
	if err := os.WriteFile(filepath.Join(dir, "missing.yaml"), []byte(rule), 0o640); err != nil {
		t.Fatal(err)
	}
	cfg.Rules.Paths = []string{dir}
	cfg.Checks[0].FastForward = 285 // the spike plays at a point a second: the incident stays open
	r := start(t, cfg, nil)
	r.out.waitFor(t, regexp.MustCompile(`No proposal from rule e2e-missing-script: no script nosuch.sh in the scripts directory`), 30*time.Second)
}
