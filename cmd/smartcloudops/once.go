package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	"github.com/smartcloudops/smartcloudops/bot"
	"github.com/smartcloudops/smartcloudops/internal/app"
	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/internal/store"
)

// detectOnce runs every configured check once, on a throw-away store so it can run beside a
// serving bot, and prints each series' latest value, band and score, and the anomalies found.
func detectOnce(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("detect once", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "configuration file (default: the embedded default)")
	fs.Usage = usageFor(fs, "[--config FILE]")
	if stop, code := parseFlags(fs, args, stdout, stderr); stop {
		return code
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		fmt.Fprintf(stderr, "detect once: invalid configuration:\n%v\n", err)
		return 1
	}
	tmp, err := os.MkdirTemp("", "smartcloudops-once-")
	if err != nil {
		fmt.Fprintf(stderr, "detect once: %v\n", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	cfg.DataDir, cfg.Listen = tmp, ""
	cfg.Console.Enabled, cfg.Slack.Enabled, cfg.Discord.Enabled = false, false, false
	b, err := app.Build(ctx, app.Options{Config: cfg, Defaults: *cfgPath == "", Logger: obs.NewLogger(stderr, obs.LogOptions{Level: "warn"}),
		Version: version, Environ: os.Environ(), Store: store.NewMemory()})
	if err != nil {
		fmt.Fprintf(stderr, "detect once: %v\n", err)
		return 1
	}
	for _, c := range cfg.Checks {
		if c.Source == "procfs" && c.Metric == "cpu" {
			time.Sleep(time.Second) // CPU use is a rate: give it an interval to measure
			break
		}
	}
	found, errs := b.Detector.RunOnce(ctx)
	for _, st := range b.Detector.Status() {
		fmt.Fprintf(stdout, "check %s: %d series\n", st.Name, st.Series)
		hist := b.Detector.History(st.Name)
		sort.Slice(hist, func(i, j int) bool { return bot.Labels(hist[i].Labels) < bot.Labels(hist[j].Labels) })
		for _, h := range hist {
			if len(h.Points) == 0 {
				continue
			}
			p := h.Points[len(h.Points)-1]
			line := fmt.Sprintf("  %s = %.4g", bot.Labels(h.Labels), p.V)
			if p.Upper > p.Lower {
				line += fmt.Sprintf(" (expected %.4g, band %.4g to %.4g, score %.2f)", p.Expected, p.Lower, p.Upper, p.Score)
			} else {
				line += " (model warming up: serve keeps the state, so a restart does not start over)"
			}
			fmt.Fprintln(stdout, line)
		}
	}
	for _, a := range found {
		fmt.Fprintf(stdout, "ANOMALY %s %s: %.4g outside %.4g..%.4g, score %.2f\n", a.Check, bot.Labels(a.Labels), a.Value, a.Lower, a.Upper, a.Score)
	}
	for _, err := range errs {
		fmt.Fprintf(stderr, "detect once: %v\n", err)
	}
	if len(errs) > 0 {
		return 1
	}
	if len(found) == 0 {
		fmt.Fprintln(stdout, "no anomalies")
	}
	return 0
}
