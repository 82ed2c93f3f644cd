package script

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/smartcloudops/smartcloudops/remediation"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// writeScript creates an executable shell script in dir and returns its path.
func writeScript(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func newAction(t *testing.T, o Options) *Action {
	t.Helper()
	if o.Logger == nil {
		o.Logger = discard()
	}
	a, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return a
}

func normalize(t *testing.T, a *Action, raw map[string]any) remediation.Params {
	t.Helper()
	p, err := a.Schema().Normalize(raw)
	if err != nil {
		t.Fatalf("Normalize(%v): %v", raw, err)
	}
	return p
}

func TestExampleScaleUp(t *testing.T) {
	a := newAction(t, Options{Dir: "../../../examples/actions"})
	p := normalize(t, a, map[string]any{"script": "scale_up.sh", "args": []any{"web-asg", 2, 3}})

	if got, want := a.Target(p), "script/scale_up.sh/web-asg"; got != want {
		t.Errorf("Target = %q, want %q", got, want)
	}
	desc, err := a.Describe(context.Background(), p)
	if err != nil {
		t.Fatalf("Describe: %v", err)
	}
	if want := "script scale_up.sh web-asg 2 3"; desc != want {
		t.Errorf("Describe = %q, want %q", desc, want)
	}
	res, err := a.Execute(context.Background(), p)
	if err != nil {
		t.Fatalf("Execute: %v", err)
	}
	if want := "scaling web-asg from 2 to 3 instances\n"; res.Output != want {
		t.Errorf("Output = %q, want %q", res.Output, want)
	}
	if !strings.HasPrefix(res.Summary, "script scale_up.sh web-asg 2 3 succeeded") {
		t.Errorf("Summary = %q", res.Summary)
	}
}

func TestArgsPassedVerbatim(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, dir, "echo_args.sh", `for a in "$@"; do printf '<%s>\n' "$a"; done`)
	a := newAction(t, Options{Dir: dir})
	args := []string{
		"has space", "$(touch pwned)", "; touch pwned2", "`touch pwned3`", "*", `a'b"c`, "",
		"--flag=x y", "line\nbreak", "$HOME", "|&<>", "ünïcode",
	}
	p := remediation.Params{"script": "echo_args.sh", "args": args}
	res, err := a.Execute(context.Background(), p)
	if err != nil {
		t.Fatalf("Execute: %v", err)
	}
	var want strings.Builder
	for _, arg := range args {
		want.WriteString("<" + arg + ">\n")
	}
	if res.Output != want.String() {
		t.Errorf("Output =\n%q\nwant\n%q", res.Output, want.String())
	}
	for _, f := range []string{"pwned", "pwned2", "pwned3"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			t.Errorf("%s was created: an argument reached a shell", f)
		}
	}
}

func TestDescribeQuotes(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, dir, "x.sh", "true")
	a := newAction(t, Options{Dir: dir})
	tests := []struct {
		args []string
		want string
	}{
		{nil, "script x.sh"},
		{[]string{"web-asg", "2", "3"}, "script x.sh web-asg 2 3"},
		{[]string{"has space"}, "script x.sh 'has space'"},
		{[]string{"it's"}, `script x.sh 'it'\''s'`},
		{[]string{"", "$(id)"}, "script x.sh '' '$(id)'"},
		{[]string{"key=v,w", "/a/b", "50%"}, "script x.sh key=v,w /a/b 50%"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			got, err := a.Describe(context.Background(), remediation.Params{"script": "x.sh", "args": tt.args})
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Describe = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestEscapeAttemptsRefused(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "scripts")
	outside := filepath.Join(root, "outside")
	writeScript(t, dir, "ok.sh", "echo ok")
	writeScript(t, dir, "sub/inner.sh", "echo inner")
	outsideScript := writeScript(t, outside, "evil.sh", "echo evil")
	if err := os.WriteFile(filepath.Join(dir, "notexec.sh"), []byte("#!/bin/sh\necho no\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, l := range []struct{ target, name string }{
		{outsideScript, "link_out.sh"},
		{outside, "linkdir"},
		{filepath.Join(dir, "ok.sh"), "link_in.sh"},
		{"/bin/sh", "sh"},
	} {
		if err := os.Symlink(l.target, filepath.Join(dir, l.name)); err != nil {
			t.Fatal(err)
		}
	}
	a := newAction(t, Options{Dir: dir})

	refused := []string{
		"../outside/evil.sh",
		"sub/../../outside/evil.sh",
		"sub/../ok.sh", // ".." is refused even when it would stay inside
		outsideScript,
		filepath.Join(dir, "..", "outside", "evil.sh"),
		"link_out.sh",
		"linkdir/evil.sh",
		"sh",
		"",
		".",
		"sub",
		"notexec.sh",
		"missing.sh",
		"/bin/sh",
		"ok.sh\x00",
	}
	for _, name := range refused {
		t.Run("refused "+strconv.Quote(name), func(t *testing.T) {
			p := remediation.Params{"script": name}
			if _, err := a.Describe(context.Background(), p); !errors.Is(err, ErrNotAllowed) && name != "" {
				t.Errorf("Describe err = %v, want ErrNotAllowed", err)
			}
			res, err := a.Execute(context.Background(), p)
			if err == nil {
				t.Fatalf("Execute ran %q: %+v", name, res)
			}
			if name != "" && !errors.Is(err, ErrNotAllowed) {
				t.Errorf("Execute err = %v, want ErrNotAllowed", err)
			}
			if strings.Contains(res.Output, "evil") {
				t.Errorf("outside script ran: %q", res.Output)
			}
		})
	}

	allowed := map[string]string{
		"ok.sh":                            "ok\n",
		"./ok.sh":                          "ok\n",
		"sub/inner.sh":                     "inner\n",
		"link_in.sh":                       "ok\n",
		filepath.Join(dir, "ok.sh"):        "ok\n",
		filepath.Join(dir, "sub/inner.sh"): "inner\n",
	}
	for name, want := range allowed {
		t.Run("allowed "+name, func(t *testing.T) {
			res, err := a.Execute(context.Background(), remediation.Params{"script": name})
			if err != nil {
				t.Fatalf("Execute: %v", err)
			}
			if res.Output != want {
				t.Errorf("Output = %q, want %q", res.Output, want)
			}
		})
	}
}

func TestAllowListOutsideDir(t *testing.T) {
	dir1, dir2 := t.TempDir(), t.TempDir()
	one := writeScript(t, dir1, "one.sh", "echo one")
	dup1 := writeScript(t, dir1, "dup.sh", "echo dup1")
	dup2 := writeScript(t, dir2, "dup.sh", "echo dup2")
	writeScript(t, dir2, "other.sh", "echo other")
	a := newAction(t, Options{Allow: []string{one, dup1, dup2}})

	for name, want := range map[string]string{one: "one\n", "one.sh": "one\n", dup1: "dup1\n", dup2: "dup2\n"} {
		res, err := a.Execute(context.Background(), remediation.Params{"script": name})
		if err != nil {
			t.Errorf("Execute %q: %v", name, err)
			continue
		}
		if res.Output != want {
			t.Errorf("Execute %q output = %q, want %q", name, res.Output, want)
		}
	}
	for _, name := range []string{"dup.sh", "other.sh", filepath.Join(dir2, "other.sh")} {
		if _, err := a.Execute(context.Background(), remediation.Params{"script": name}); !errors.Is(err, ErrNotAllowed) {
			t.Errorf("Execute %q err = %v, want ErrNotAllowed", name, err)
		}
	}
}

func TestTimeoutKillsProcessGroup(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, dir, "hang.sh", `sleep 60 &
echo $! > "$1"
echo started
sleep 60`)
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	a := newAction(t, Options{Dir: dir, Timeout: 500 * time.Millisecond})
	res, err := a.Execute(context.Background(), remediation.Params{"script": "hang.sh", "args": []string{pidFile}})
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	if !strings.Contains(res.Output, "started") {
		t.Errorf("Output = %q, want the output captured before the timeout", res.Output)
	}
	raw, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("background child never wrote its pid: %v", err)
	}
	pid := strings.TrimSpace(string(raw))
	waitGone(t, pid)
}

// waitGone waits until the process has exited: a pidfd becomes readable when it does. The kill
// is asynchronous, so the wait is bounded rather than a single look.
func waitGone(t *testing.T, pid string) {
	t.Helper()
	n, err := strconv.Atoi(pid)
	if err != nil {
		t.Fatalf("pid %q: %v", pid, err)
	}
	fd, err := unix.PidfdOpen(n, 0)
	if errors.Is(err, unix.ESRCH) {
		return // already gone
	}
	if err != nil {
		t.Fatalf("pidfd_open %d: %v", n, err)
	}
	defer unix.Close(fd)
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		ready, err := unix.Poll(fds, 10_000)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || ready == 0 {
			stat, _ := os.ReadFile("/proc/" + pid + "/stat")
			t.Fatalf("background child %s still alive after 10s (%v): %s", pid, err, stat)
		}
		return
	}
}

func TestLeftoverChildrenKilledOnExit(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, dir, "leaves.sh", `sleep 60 > /dev/null 2>&1 &
echo $! > "$1"`)
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	a := newAction(t, Options{Dir: dir})
	if _, err := a.Execute(context.Background(), remediation.Params{"script": "leaves.sh", "args": []string{pidFile}}); err != nil {
		t.Fatalf("Execute: %v", err)
	}
	raw, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	waitGone(t, strings.TrimSpace(string(raw)))
}

func TestCallerCancel(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, dir, "hang.sh", "sleep 60")
	a := newAction(t, Options{Dir: dir, Timeout: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := a.Execute(ctx, remediation.Params{"script": "hang.sh"})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err = a.Execute(ctx, remediation.Params{"script": "hang.sh"}); !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout for the caller's deadline", err)
	}
}

func TestOutputCap(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, dir, "loud.sh", `head -c 100000 /dev/zero | tr '\0' x; echo tail >&2`)
	a := newAction(t, Options{Dir: dir, OutputCap: 1000})
	res, err := a.Execute(context.Background(), remediation.Params{"script": "loud.sh"})
	if err != nil {
		t.Fatalf("Execute: %v", err)
	}
	want := strings.Repeat("x", 1000) + "\n[truncated]\n"
	if res.Output != want {
		t.Errorf("Output has %d bytes ending %q, want %d bytes ending in the marker",
			len(res.Output), res.Output[max(0, len(res.Output)-20):], len(want))
	}
}

func TestOutputInterleaved(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, dir, "mixed.sh", "echo out1; echo err1 >&2; echo out2; echo err2 >&2")
	a := newAction(t, Options{Dir: dir})
	res, err := a.Execute(context.Background(), remediation.Params{"script": "mixed.sh"})
	if err != nil {
		t.Fatal(err)
	}
	if want := "out1\nerr1\nout2\nerr2\n"; res.Output != want {
		t.Errorf("Output = %q, want %q", res.Output, want)
	}
}

func TestEnvironmentScrubbed(t *testing.T) {
	t.Setenv("SMARTCLOUDOPS_TEST_SECRET", "hunter2")
	dir := t.TempDir()
	writeScript(t, dir, "env.sh", "exec /usr/bin/env")
	tests := []struct {
		name string
		env  []string
		want map[string]string
	}{
		{"default path", []string{"GREETING=hi there"}, map[string]string{"GREETING": "hi there", "PATH": strings.TrimPrefix(DefaultPath, "PATH=")}},
		{"own path", []string{"PATH=/usr/bin:/bin"}, map[string]string{"PATH": "/usr/bin:/bin"}},
	}
	// Variables a POSIX shell sets for itself.
	shellOwn := map[string]bool{"PWD": true, "SHLVL": true, "_": true, "OLDPWD": true}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAction(t, Options{Dir: dir, Env: tt.env})
			res, err := a.Execute(context.Background(), remediation.Params{"script": "env.sh"})
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, line := range strings.Split(strings.TrimSpace(res.Output), "\n") {
				k, v, _ := strings.Cut(line, "=")
				got[k] = v
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
			for k := range got {
				if _, ok := tt.want[k]; !ok && !shellOwn[k] {
					t.Errorf("script saw %s, which is not in the allowed environment", k)
				}
			}
			if strings.Contains(res.Output, "hunter2") {
				t.Error("the parent's environment leaked into the script")
			}
		})
	}
}

func TestNonZeroExit(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, dir, "fail.sh", "echo working; echo 'group not found' >&2; exit 3")
	a := newAction(t, Options{Dir: dir})
	res, err := a.Execute(context.Background(), remediation.Params{"script": "fail.sh"})
	var exitErr *ExitError
	if !errors.As(err, &exitErr) {
		t.Fatalf("err = %v, want *ExitError", err)
	}
	if exitErr.Code != 3 || exitErr.Output != "working\ngroup not found\n" {
		t.Errorf("ExitError = %+v", exitErr)
	}
	if want := "script fail.sh: exit status 3: group not found"; err.Error() != want {
		t.Errorf("Error() = %q, want %q", err.Error(), want)
	}
	if res.Output != exitErr.Output || !strings.Contains(res.Summary, "status 3") {
		t.Errorf("Result = %+v", res)
	}
}

func TestBadParams(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, dir, "x.sh", "true")
	a := newAction(t, Options{Dir: dir})
	tests := []struct {
		name string
		p    remediation.Params
		want string
	}{
		{"missing script", remediation.Params{}, `param "script" is required`},
		{"template script", remediation.Params{"script": "{{ .x }}"}, "unrendered template"},
		{"template args", remediation.Params{"script": "x.sh", "args": "{{ .labels.group }}"}, "unrendered template"},
		{"wrong args type", remediation.Params{"script": "x.sh", "args": 3}, "want a list of strings"},
		{"nul in arg", remediation.Params{"script": "x.sh", "args": []string{"a\x00b"}}, "NUL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := a.Execute(context.Background(), tt.p)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Execute err = %v, want it to mention %q", err, tt.want)
			}
			if _, err := a.Describe(context.Background(), tt.p); err == nil {
				t.Error("Describe accepted bad params")
			}
		})
	}
}

func TestNewValidation(t *testing.T) {
	file := writeScript(t, t.TempDir(), "f.sh", "true")
	tests := []struct {
		name string
		o    Options
		want []string
	}{
		{"nothing", Options{}, []string{"Logger is required", "Dir or Allow is required"}},
		{"bad dir", Options{Logger: discard(), Dir: "/does/not/exist"}, []string{`Dir "/does/not/exist"`}},
		{"dir is file", Options{Logger: discard(), Dir: file}, []string{"not a directory"}},
		{"bad allow", Options{Logger: discard(), Allow: []string{"", "/does/not/exist.sh"}}, []string{"Allow[0]: empty path", "Allow[1]"}},
		{"bad env", Options{Logger: discard(), Allow: []string{file}, Env: []string{"NOEQUALS", "=x"}}, []string{"Env[0]", "Env[1]"}},
		{"negative", Options{Logger: discard(), Allow: []string{file}, Timeout: -1, OutputCap: -1}, []string{"Timeout", "OutputCap"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.o)
			if err == nil {
				t.Fatal("New accepted bad options")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err = %v, want it to mention %q", err, w)
				}
			}
		})
	}
}

func TestConcurrentRuns(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, dir, "echo.sh", `echo "$1"`)
	a := newAction(t, Options{Dir: dir})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Go(func() {
			res, err := a.Execute(context.Background(), remediation.Params{"script": "echo.sh", "args": []string{strconv.Itoa(i)}})
			if err != nil {
				errs <- err
				return
			}
			if res.Output != strconv.Itoa(i)+"\n" {
				errs <- errors.New("run " + strconv.Itoa(i) + " got " + res.Output)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func BenchmarkExecute(b *testing.B) {
	dir := b.TempDir()
	p := filepath.Join(dir, "true.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\necho ok\n"), 0o755); err != nil {
		b.Fatal(err)
	}
	a, err := New(Options{Dir: dir, Logger: discard()})
	if err != nil {
		b.Fatal(err)
	}
	params := remediation.Params{"script": "true.sh", "args": []string{"web-asg", "2", "3"}}
	for b.Loop() {
		if _, err := a.Execute(context.Background(), params); err != nil {
			b.Fatal(err)
		}
	}
}
