package loadtest

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// Env is what every scenario shares: the binary under test and where results go.
type Env struct {
	Bin string    // the smartcloudops binary
	Out string    // output directory; each scenario writes its files in a subdirectory
	Log io.Writer // progress lines
}

func (e Env) logf(format string, args ...any) {
	if e.Log != nil {
		fmt.Fprintf(e.Log, "%s loadtest: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
	}
}

// dir makes (afresh) and returns a scenario's directory, as an absolute path: the bot runs in it
// and reads its configuration from it.
func (e Env) dir(name string) (string, error) {
	d, err := filepath.Abs(filepath.Join(e.Out, name))
	if err != nil {
		return "", err
	}
	if err := os.RemoveAll(d); err != nil {
		return "", err
	}
	return d, os.MkdirAll(d, 0o750)
}

// trainHistory is how many points of history the model of a check is trained on: far past
// the warm-up, so every series scores from its first tick.
const trainHistory = 5000

// train fits the model every series of a check starts from, with `smartcloudops detect train`
// on a range query of one series of the fake Prometheus, so no scenario waits out a warm-up.
func (e Env) train(ctx context.Context, prom *FakeProm, step time.Duration, dir string) (string, error) {
	out := filepath.Join(dir, "model.bin")
	from := time.Duration(trainHistory) * step
	cmd := exec.CommandContext(ctx, e.Bin, "detect", "train", "--prometheus", prom.URL, // #nosec G204 -- the binary under test
		"--query", Metric+`{series="0"}`, "--from", from.String(), "--step", step.String(), "--out", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("detect train: %w: %s", err, b)
	}
	return out, nil
}

// checkSpec is the one check of the detector scenarios: every series of the fake, on a schedule,
// from the trained model.
func checkSpec(model string, every time.Duration) map[string]any {
	return map[string]any{"name": "load", "source": "prometheus", "query": Metric, "schedule": "@every " + every.String(),
		"model": model, "severity": "warning"}
}

// waitMetrics scrapes the bot every `every` until cond holds, and returns that scrape; it fails
// at the deadline or when the bot exits.
func waitMetrics(ctx context.Context, b *Bot, every, deadline time.Duration, what string, cond func(Metrics) bool) (Metrics, error) {
	ctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	for {
		m, err := b.Scrape(ctx)
		if err == nil && cond(m) {
			return m, nil
		}
		if b.PID() == 0 {
			return m, fmt.Errorf("waiting for %s: the bot exited; %s", what, b.logTail())
		}
		select {
		case <-ctx.Done():
			return m, fmt.Errorf("waiting for %s: not within %s", what, deadline)
		case <-time.After(every):
		}
	}
}

// Detector metrics the scenarios read.
const (
	mTick     = "smartcloudops_detector_tick_duration_seconds"
	mSkipped  = "smartcloudops_detector_ticks_skipped_total"
	mPoints   = "smartcloudops_detector_points_total"
	mOpened   = "smartcloudops_incidents_opened_total"
	mOpen     = "smartcloudops_incidents_open"
	mCards    = "smartcloudops_notifier_cards_total"
	mFirings  = "smartcloudops_rule_firings_total"
	mHeap     = "go_memstats_heap_inuse_bytes"
	mRSS      = "process_resident_memory_bytes"
	mQueue    = "smartcloudops_incident_queue_full_total"
	mNotified = "smartcloudops_alertmanager_notifications_total"
	// mIntakeQueue is the webhook notifications accepted and not yet processed.
	mIntakeQueue = "smartcloudops_alertmanager_intake_queue"
)

var checkLoad = map[string]string{"check": "load"}
