// Command loadtest is the load harness of SmartCloudOps (`make loadtest`): it runs the real
// binary against a fake Prometheus with N series and a storm switch and against an Alertmanager
// webhook flood, on loopback, each scenario bounded in time, and prints the table with
// the machine's load, writing every figure to report.json beside it. See loadtest/README.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/smartcloudops/smartcloudops/loadtest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// env reads a default from the environment, so `SERIES=100000 make loadtest` works.
func env[T any](name string, def T, parse func(string) (T, error)) T {
	if s := os.Getenv(name); s != "" {
		if v, err := parse(s); err == nil {
			return v
		}
		fmt.Fprintf(os.Stderr, "loadtest: ignoring %s=%q: not a valid value\n", name, s)
	}
	return def
}

func envInt(name string, def int) int { return env(name, def, strconv.Atoi) }
func envDur(name string, def time.Duration) time.Duration {
	return env(name, def, time.ParseDuration)
}
func envStr(name, def string) string {
	return env(name, def, func(s string) (string, error) { return s, nil })
}

var allScenarios = []string{"webhook", "loss", "storm", "steady"}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	bin := fs.String("bin", "bin/smartcloudops", "the smartcloudops binary under test")
	out := fs.String("out", "bin/loadtest", "directory for report.json, report.md and each scenario's files")
	scenarios := fs.String("scenarios", envStr("SCENARIOS", strings.Join(allScenarios, ",")), "scenarios to run, comma-separated (SCENARIOS)")
	timeout := fs.Duration("timeout", envDur("LOADTEST_TIMEOUT", 40*time.Minute), "the whole run stops after this (LOADTEST_TIMEOUT)")
	var steady loadtest.SteadyOptions
	fs.IntVar(&steady.Series, "series", envInt("SERIES", 10000), "steady: series on the one check (SERIES)")
	fs.DurationVar(&steady.Interval, "interval", envDur("INTERVAL", 15*time.Second), "steady: the check's schedule, @every (INTERVAL)")
	fs.IntVar(&steady.Ticks, "ticks", envInt("TICKS", 10), "steady: ticks measured (TICKS)")
	fs.IntVar(&steady.WarmTicks, "warm-ticks", envInt("WARM_TICKS", 2), "steady: ticks before measuring (WARM_TICKS)")
	fs.BoolVar(&steady.FullHistory, "full-history", envInt("FULL_HISTORY", 0) != 0,
		"steady: measure once every series' history is full, raising the ticks to fill it; with a short -interval (FULL_HISTORY=1)")
	var storm loadtest.StormOptions
	fs.IntVar(&storm.Series, "storm-series", envInt("STORM_SERIES", 2000), "storm: series, all anomalous at once (STORM_SERIES)")
	fs.DurationVar(&storm.Interval, "storm-interval", envDur("STORM_INTERVAL", 5*time.Second), "storm: the check's schedule (STORM_INTERVAL)")
	fs.IntVar(&storm.CalmTicks, "calm-ticks", envInt("CALM_TICKS", 3), "storm: calm ticks before the storm (CALM_TICKS)")
	fs.DurationVar(&storm.Deadline, "storm-deadline", envDur("STORM_DEADLINE", 2*time.Minute), "storm: bound on the waits for every incident and every resolution (STORM_DEADLINE)")
	fs.DurationVar(&storm.CardSettle, "card-settle", envDur("CARD_SETTLE", 45*time.Second), "storm: how long the storm goes on for the cards (CARD_SETTLE)")
	var tp loadtest.ThroughputOptions
	fs.DurationVar(&tp.Duration, "duration", envDur("WRK_DURATION", 20*time.Second), "webhook: how long wrk floods (WRK_DURATION)")
	fs.IntVar(&tp.Connections, "connections", envInt("WRK_CONNECTIONS", 32), "webhook: wrk connections; also the top-up's concurrency (WRK_CONNECTIONS)")
	fs.IntVar(&tp.Threads, "threads", envInt("WRK_THREADS", 2), "webhook: wrk threads (WRK_THREADS)")
	fs.IntVar(&tp.PerGroup, "per-group", envInt("PER_GROUP", 1), "webhook and loss: alerts per notification (PER_GROUP)")
	fs.IntVar(&tp.Items, "items", envInt("ITEMS", 5000), "webhook: incidents stored before the API list is measured; 0 skips it (ITEMS)")
	fs.DurationVar(&tp.TopUpDeadline, "top-up-deadline", envDur("TOP_UP_DEADLINE", 20*time.Minute), "webhook: bound on topping the incidents up to ITEMS (TOP_UP_DEADLINE)")
	fs.IntVar(&tp.APIRequests, "api-requests", envInt("API_REQUESTS", 100), "webhook: pages fetched of each list (API_REQUESTS)")
	var loss loadtest.LossOptions
	fs.IntVar(&loss.Alerts, "alerts", envInt("ALERTS", 2000), "loss: alerts in each of the three floods (ALERTS)")
	fs.IntVar(&loss.Concurrency, "concurrency", envInt("LOSS_CONCURRENCY", 16), "loss: requests in flight (LOSS_CONCURRENCY)")
	fs.Float64Var(&loss.Rate, "rate", env("LOSS_RATE", 0.0, func(s string) (float64, error) { return strconv.ParseFloat(s, 64) }),
		"loss: notifications started a second, an open loop; 0: as fast as the concurrency allows (LOSS_RATE)")
	fs.DurationVar(&loss.ClientTimeout, "client-timeout", envDur("CLIENT_TIMEOUT", 50*time.Millisecond), "loss: the client timeout of the first flood (CLIENT_TIMEOUT)")
	fs.DurationVar(&loss.Settle, "settle", envDur("LOSS_SETTLE", time.Minute), "loss: how long late incidents and proposals are waited for (LOSS_SETTLE)")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	loss.PerGroup = tp.PerGroup
	chosen := strings.Split(*scenarios, ",")
	for _, s := range chosen {
		if !slices.Contains(allScenarios, s) {
			fmt.Fprintf(stderr, "loadtest: unknown scenario %q (want some of %s)\n", s, strings.Join(allScenarios, ","))
			return 2
		}
	}
	if _, err := os.Stat(*bin); err != nil {
		fmt.Fprintf(stderr, "loadtest: the binary under test: %v (run `make build`, or `make loadtest`)\n", err)
		return 2
	}
	absBin, _ := filepath.Abs(*bin)
	if err := os.MkdirAll(*out, 0o750); err != nil {
		fmt.Fprintln(stderr, "loadtest:", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	e := loadtest.Env{Bin: absBin, Out: *out, Log: stderr}
	rep := &loadtest.Report{At: time.Now(), Command: commandLine(args), Machine: loadtest.ReadMachine(), Errors: map[string]string{}}
	if v, err := exec.CommandContext(ctx, absBin, "version").Output(); err == nil { // #nosec G204 -- the binary under test
		rep.Version = strings.TrimSpace(string(v))
	}
	start := time.Now()
	for _, s := range chosen {
		if ctx.Err() != nil {
			rep.Errors[s] = "not run: " + ctx.Err().Error()
			continue
		}
		var err error
		switch s {
		case "webhook":
			rep.Webhook, err = loadtest.Throughput(ctx, e, tp)
		case "loss":
			rep.Loss, err = loadtest.ZeroLoss(ctx, e, loss)
		case "storm":
			rep.Storm, err = loadtest.Storm(ctx, e, storm)
		case "steady":
			rep.Steady, err = loadtest.Steady(ctx, e, steady)
		}
		if err != nil {
			rep.Errors[s] = err.Error()
			fmt.Fprintf(stderr, "loadtest: %s: %v\n", s, err)
		}
	}
	rep.Duration = time.Since(start).Seconds()
	table := rep.Table()
	fmt.Fprint(stdout, "\n"+table)
	jsonPath := filepath.Join(*out, "report.json")
	if err := rep.WriteJSON(jsonPath); err != nil {
		fmt.Fprintln(stderr, "loadtest:", err)
		return 1
	}
	if err := os.WriteFile(filepath.Join(*out, "report.md"), []byte(table), 0o600); err != nil {
		fmt.Fprintln(stderr, "loadtest:", err)
		return 1
	}
	fmt.Fprintf(stdout, "\nfigures: %s; each scenario's log, console, configuration and ack log under %s\n", jsonPath, *out)
	if len(rep.Errors) > 0 {
		return 1
	}
	return 0
}

// commandLine is how this run can be repeated: the sizes from the environment and the flags.
func commandLine(args []string) string {
	var envs []string
	for _, name := range []string{"SCENARIOS", "SERIES", "INTERVAL", "TICKS", "WARM_TICKS", "FULL_HISTORY", "STORM_SERIES", "STORM_INTERVAL",
		"CALM_TICKS", "STORM_DEADLINE", "CARD_SETTLE", "WRK_DURATION", "WRK_CONNECTIONS", "WRK_THREADS", "PER_GROUP", "ITEMS", "TOP_UP_DEADLINE",
		"API_REQUESTS", "ALERTS", "LOSS_CONCURRENCY", "LOSS_RATE", "CLIENT_TIMEOUT", "LOSS_SETTLE", "LOADTEST_TIMEOUT"} {
		if v := os.Getenv(name); v != "" {
			envs = append(envs, name+"="+v)
		}
	}
	return strings.TrimSpace(strings.Join(envs, " ") + " loadtest " + strings.Join(args, " "))
}
