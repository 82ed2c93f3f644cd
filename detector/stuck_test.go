package detector

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smartcloudops/smartcloudops/internal/config"
	"github.com/smartcloudops/smartcloudops/internal/obs"
)

// TestSkippedTicksMarkTheCheckDown: a tick that never ends (a hung source or callback) makes
// the check count as down once stuckAfter ticks in a row were skipped, and up again when a
// tick finishes.
func TestSkippedTicksMarkTheCheckDown(t *testing.T) {
	sched, _ := config.ParseSchedule("@every 1s") // the jitter before a tick stays under 100ms
	reg := prometheus.NewRegistry()
	src := SourceFunc(func(context.Context, time.Time) ([]Series, error) { return nil, nil })
	d, err := New(Options{Checks: []CheckSpec{{Name: "cpu", Source: src, Schedule: sched, Threshold: 0.5,
		Factory: func() Model { return nil }}}, Logger: obs.Discard(), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	ch := d.checks[0]
	ch.running.Store(true) // a tick that does not end
	ch.tickStarted.Store(time.Now().UnixNano())
	for i := range stuckAfter {
		if st := d.Status()[0]; !st.Up {
			t.Fatalf("down after %d skipped ticks: %+v", i, st)
		}
		ch.scheduled(context.Background())
	}
	st := d.Status()[0]
	if st.Up || !strings.Contains(st.LastError, "still running") || st.Skipped != stuckAfter {
		t.Fatalf("after %d skipped ticks: %+v, want down", stuckAfter, st)
	}
	if v := gaugeValue(t, reg, "smartcloudops_check_up"); v != 0 {
		t.Fatalf("smartcloudops_check_up %v while ticks are skipped", v)
	}
	ch.running.Store(false)
	ch.scheduled(context.Background())
	if st := d.Status()[0]; !st.Up {
		t.Fatalf("still down after a tick finished: %+v", st)
	}
	if v := gaugeValue(t, reg, "smartcloudops_check_up"); v != 1 {
		t.Fatalf("smartcloudops_check_up %v after a tick finished", v)
	}
}

func gaugeValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}
