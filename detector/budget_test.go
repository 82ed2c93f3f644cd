package detector_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smartcloudops/smartcloudops/detector"
	"github.com/smartcloudops/smartcloudops/internal/config"
	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/internal/store"
)

// budgetDetector is a detector of check cpu that keeps at most three models in st.
func budgetDetector(t *testing.T, src detector.Source, st store.Store, reg *prometheus.Registry, an *[]detector.Anomaly, rec *[]detector.Recovery) *detector.Detector {
	t.Helper()
	sched, _ := config.ParseSchedule("@every 1s")
	d, err := detector.New(detector.Options{
		Checks: []detector.CheckSpec{{Name: "cpu", Source: src, Schedule: sched, Threshold: threshold,
			Factory: func() detector.Model { return &meanModel{} }}},
		OnTick: collect(an, rec), Store: st, LoadModel: loadMean, StoredModels: 3,
		Logger: obs.Discard(), Registerer: reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// fiveHosts is n points from minute from for host-0 … host-4, each at 40 but host-4 at v4.
func fiveHosts(from, n int, v4 float64) []detector.Series {
	var out []detector.Series
	for h := range 5 {
		v := 40.0
		if h == 4 {
			v = v4
		}
		out = append(out, detector.Series{Labels: map[string]string{"host": fmt.Sprint("host-", h)}, Points: flat(from, n, v)})
	}
	return out
}

// TestStoredModelsBudget: beyond Options.StoredModels a series keeps its model in memory only:
// its model is never written, but its episode is, so after a restart (or a failover) it learns
// again and the incident it had open still ends. The series within the budget resume.
func TestStoredModelsBudget(t *testing.T) {
	ctx := context.Background()
	mem := store.NewMemory()
	var an []detector.Anomaly
	var rec []detector.Recovery
	reg := prometheus.NewRegistry()
	d1 := budgetDetector(t, &queue{batches: [][]detector.Series{fiveHosts(0, 100, 40), fiveHosts(100, 1, 400)}}, mem, reg, &an, &rec)
	for range 2 {
		if _, err := d1.Tick(ctx, "cpu"); err != nil {
			t.Fatal(err)
		}
	}
	d1.SaveState(ctx)
	if len(an) != 1 || an[0].Labels["host"] != "host-4" {
		t.Fatalf("anomalies: %+v, want one on host-4", an)
	}
	kvs, err := mem.List(ctx, "detector/state/cpu/")
	if err != nil {
		t.Fatal(err)
	}
	models, episodes := 0, 0
	for _, kv := range kvs {
		labels, m, err := detector.SavedModel(kv.Value)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case len(m) > 0:
			models++
		case labels["host"] == "host-4":
			episodes++
		default:
			t.Fatalf("%s stored without a model and without an episode", kv.Key)
		}
	}
	if models != 3 || episodes != 1 || len(kvs) != 4 {
		t.Fatalf("stored: %d models and %d episode-only records of %d, want 3 models and host-4's episode", models, episodes, len(kvs))
	}
	for kept, want := range map[string]float64{"store": 3, "memory": 2} {
		if got := modelsKept(t, reg, kept); got != want {
			t.Errorf("smartcloudops_detector_models{kept=%q} = %v, want %v", kept, got, want)
		}
	}

	// The restart: the three stored models resume; host-4 learns again (warm-up: no score) and
	// its open episode ends.
	reg2 := prometheus.NewRegistry()
	d2 := budgetDetector(t, &queue{batches: [][]detector.Series{fiveHosts(101, 5, 40)}}, mem, reg2, &an, &rec)
	if _, err := d2.Tick(ctx, "cpu"); err != nil {
		t.Fatal(err)
	}
	if len(rec) != 1 || rec[0].Labels["host"] != "host-4" || !rec[0].Since.Equal(an[0].Since) {
		t.Fatalf("recoveries after the restart: %+v, want host-4's episode", rec)
	}
	d2.SaveState(ctx)
	kvs, _ = mem.List(ctx, "detector/state/cpu/")
	for _, kv := range kvs {
		labels, m, _ := detector.SavedModel(kv.Value)
		if labels["host"] == "host-4" {
			if len(m) != 0 {
				t.Fatalf("host-4's model was stored after the restart (%d bytes)", len(m))
			}
			continue
		}
		var mm meanModel
		if err := mm.UnmarshalBinary(m); err != nil || mm.N != 106 {
			t.Fatalf("%s: the stored model learnt %d points (%v), want 106: it did not resume", kv.Key, mm.N, err)
		}
	}
}

// modelsKept is the value of smartcloudops_detector_models{kept=kept} in reg.
func modelsKept(t *testing.T, reg *prometheus.Registry, kept string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "smartcloudops_detector_models" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "kept" && l.GetValue() == kept {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	t.Fatalf("no smartcloudops_detector_models{kept=%q}", kept)
	return 0
}
