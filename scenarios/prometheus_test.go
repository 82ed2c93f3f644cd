//go:build scenarios

package scenarios

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/smartcloudops/smartcloudops/internal/testenv"
)

// checkLine returns the `status` line of a check ("  check NAME: ...").
func checkLine(status, check string) string {
	for _, l := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "check "+check+": "); ok {
			return v
		}
	}
	return ""
}

var (
	checkDown = regexp.MustCompile(`(?i)\b(degraded|down|unreachable|failing)\b`)
	lastTick  = regexp.MustCompile(`last tick (\d\d:\d\d:\d\d)`)
)

// tickAfter reports whether a status line's last tick is at or after t (status shows UTC
// clock times only; the stories run for minutes, never across midnight's edge by more).
func tickAfter(line string, t time.Time) bool {
	m := lastTick.FindStringSubmatch(line)
	if m == nil {
		return false
	}
	tick, err := time.Parse("15:04:05", m[1])
	if err != nil {
		return false
	}
	u := t.UTC()
	at := time.Date(u.Year(), u.Month(), u.Day(), tick.Hour(), tick.Minute(), tick.Second(), 0, time.UTC)
	return !at.Before(u.Truncate(time.Second))
}

// prometheusDownAndBack stops the Prometheus a check reads and starts it again on the same
// port: `status` names the check down with the reason, and the check is back soon after.
func prometheusDownAndBack(t *testing.T, e *env) {
	const check = "node-load"
	prom := testenv.StartPrometheusServer(t, testenv.PromOptions{ScrapeTargets: []string{e.node}})
	b := startBot(t, botSpec{Prometheus: prom.URL, Checks: []map[string]any{{
		"name": check, "source": "prometheus", "query": "node_load1", "schedule": "@every 1s", "severity": "info",
	}}})
	b.waitScored(check, 3)
	if line := checkLine(b.ask("status"), check); !strings.HasPrefix(line, "ok; 1 series") {
		t.Errorf("`status` shows check %s as %q; want ok with its one series", check, line)
	}

	prom.Stop()
	stopped := time.Now()
	status := b.eventually("status", "`status` to show check "+check+" down", func(r string) bool {
		return checkDown.MatchString(checkLine(r, check))
	})
	measure(t, "Prometheus stopped → status shows the check down", stopped, time.Now())
	line := checkLine(status, check)
	if !strings.Contains(line, prom.Addr) || !regexp.MustCompile(`connection refused|unreachable`).MatchString(line) {
		t.Errorf("`status` says check %s is %q; want the Prometheus address %s and why it cannot be read", check, line, prom.Addr)
	}

	// The outage lasts half a minute, as a restart of Prometheus with a large TSDB would.
	time.Sleep(30 * time.Second)
	prom.Start()
	started := time.Now()
	b.eventually("status", "check "+check+" to be ok again", func(r string) bool {
		l := checkLine(r, check)
		return strings.HasPrefix(l, "ok;") && tickAfter(l, started)
	})
	measure(t, "Prometheus back → check ok (schedule 1s)", started, time.Now())
	b.waitScored(check, 3)
}
