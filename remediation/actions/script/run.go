package script

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// waitDelay bounds how long Execute waits for output pipes after the script exited or was killed.
// Only a process that left the group (setsid) can hold them open that long.
const waitDelay = 2 * time.Second

const (
	truncatedMarker = "[truncated]"
	abandonedMarker = "[output abandoned: a detached process kept it open]"
)

// run starts path with args in its own process group and waits for it. It returns the captured
// output and the exit status; err is set when the script could not run or was stopped.
func (a *Action) run(ctx context.Context, path string, args []string) (string, int, error) {
	runCtx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()

	out := &cappedBuffer{limit: a.outputCap}
	cmd := exec.CommandContext(runCtx, path, args...) // #nosec G204 -- path is resolved inside the allow-list; arguments are a list, no shell
	cmd.Env = a.env
	cmd.Dir = a.allow.realDir
	if cmd.Dir == "" {
		cmd.Dir = filepath.Dir(path)
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return killGroup(cmd.Process.Pid) }
	cmd.WaitDelay = waitDelay
	if err := cmd.Start(); err != nil {
		return "", 0, fmt.Errorf("start: %w", err)
	}
	pid := cmd.Process.Pid
	// Wait for the leader to exit without reaping it: while it is a zombie its PID, and so the
	// group ID, cannot be reused, which makes killing the rest of the group safe.
	waitExited(pid)
	_ = killGroup(pid)
	err := cmd.Wait()

	switch {
	case runCtx.Err() != nil && ctx.Err() == nil:
		return out.String(), -1, fmt.Errorf("%w after %s", ErrTimeout, a.timeout)
	case ctx.Err() != nil:
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return out.String(), -1, fmt.Errorf("%w: the caller's deadline passed", ErrTimeout)
		}
		return out.String(), -1, fmt.Errorf("stopped: %w", ctx.Err())
	case errors.Is(err, exec.ErrWaitDelay):
		out.note(abandonedMarker)
		return out.String(), cmd.ProcessState.ExitCode(), nil
	}
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		return out.String(), -1, fmt.Errorf("wait: %w", err)
	}
	return out.String(), cmd.ProcessState.ExitCode(), nil
}

// waitExited blocks until pid has exited, leaving it waitable for exec.Cmd.Wait.
func waitExited(pid int) {
	for {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if !errors.Is(err, unix.EINTR) {
			return
		}
	}
}

// killGroup sends SIGKILL to the process group led by pid. A group that is already gone is not
// an error.
func killGroup(pid int) error {
	if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill process group %d: %w", pid, err)
	}
	return nil
}

// cappedBuffer keeps the first limit bytes written to it and counts the rest. It never fails a
// write, so the child does not see a broken pipe when its output is cut.
type cappedBuffer struct {
	mu        sync.Mutex
	limit     int
	buf       strings.Builder
	truncated bool
	notes     []string
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	room := c.limit - c.buf.Len()
	if room >= len(p) {
		c.buf.Write(p)
		return len(p), nil
	}
	if room > 0 {
		c.buf.Write(p[:room])
	}
	c.truncated = true
	return len(p), nil
}

func (c *cappedBuffer) note(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.notes = append(c.notes, s)
}

// String returns the captured output followed by the truncation marker, when it applies, on its
// own line.
func (c *cappedBuffer) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.buf.String()
	tail := c.notes
	if c.truncated {
		tail = append([]string{truncatedMarker}, tail...)
	}
	for _, t := range tail {
		if s != "" && !strings.HasSuffix(s, "\n") {
			s += "\n"
		}
		s += t + "\n"
	}
	return s
}
