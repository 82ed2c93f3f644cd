package loadtest

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

//go:embed flood.lua
var floodLua []byte

// WrkOptions configures one wrk run against the webhook.
type WrkOptions struct {
	URL         string // the webhook
	Run         string // names the run's groups and alerts
	PerGroup    int
	Threads     int
	Connections int
	Duration    time.Duration
	Timeout     time.Duration // wrk's per-request timeout, in whole seconds (wrk takes no finer unit)
	Dir         string        // where the script is written
}

// WrkResult is what wrk's done() reported.
type WrkResult struct {
	Requests      int64   `json:"requests"`
	DurationUS    int64   `json:"duration_us"`
	StatusErrors  int64   `json:"status_errors"` // answers other than 2xx and 3xx
	ConnectErrors int64   `json:"connect_errors"`
	ReadErrors    int64   `json:"read_errors"`
	WriteErrors   int64   `json:"write_errors"`
	Timeouts      int64   `json:"timeouts"`
	P50US         float64 `json:"p50_us"`
	P90US         float64 `json:"p90_us"`
	P99US         float64 `json:"p99_us"`
	MaxUS         float64 `json:"max_us"`
	Threads       int     `json:"threads"`
	CPU           float64 `json:"-"` // wrk's own CPU seconds
}

// Acked is the number of notifications answered 2xx.
func (r WrkResult) Acked() int64 { return r.Requests - r.StatusErrors }

// Wrk runs Debian's wrk with the harness's script for o.Duration.
func Wrk(ctx context.Context, o WrkOptions) (WrkResult, error) {
	bin, err := exec.LookPath("wrk")
	if err != nil {
		return WrkResult{}, fmt.Errorf("wrk is not installed (Debian package wrk): %w", err)
	}
	script := filepath.Join(o.Dir, "flood.lua")
	if err := os.WriteFile(script, floodLua, 0o600); err != nil {
		return WrkResult{}, err
	}
	secs := max(int(o.Duration.Seconds()), 1)
	args := []string{"-t", strconv.Itoa(max(o.Threads, 1)), "-c", strconv.Itoa(max(o.Connections, o.Threads, 1)),
		"-d", fmt.Sprintf("%ds", secs), "--timeout", fmt.Sprintf("%ds", max(int(o.Timeout.Seconds()), 1)),
		"-s", script, o.URL, "--", o.Run, strconv.Itoa(max(o.PerGroup, 1))}
	// wrk stops itself after -d; the context only guards against it hanging.
	wctx, cancel := context.WithTimeout(ctx, o.Duration+time.Minute)
	defer cancel()
	cmd := exec.CommandContext(wctx, bin, args...) // #nosec G204 -- wrk on arguments the harness builds
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return WrkResult{}, fmt.Errorf("wrk %s: %w: %s%s", strings.Join(args, " "), err, stderr.String(), clip(stdout.Bytes(), 2000))
	}
	r, err := parseWrk(stdout.Bytes())
	r.CPU = cmd.ProcessState.UserTime().Seconds() + cmd.ProcessState.SystemTime().Seconds()
	return r, err
}

// parseWrk finds the script's LOADTEST line in wrk's output.
func parseWrk(out []byte) (WrkResult, error) {
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "LOADTEST "); ok {
			var r WrkResult
			if err := json.Unmarshal([]byte(rest), &r); err != nil {
				return r, fmt.Errorf("wrk summary %q: %w", rest, err)
			}
			return r, nil
		}
	}
	return WrkResult{}, fmt.Errorf("wrk printed no LOADTEST summary:\n%s", out)
}
