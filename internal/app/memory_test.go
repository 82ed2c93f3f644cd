package app

import (
	"context"
	"math"
	"runtime/debug"
	"testing"
	"testing/fstest"

	"github.com/smartcloudops/smartcloudops/internal/config"
	"github.com/smartcloudops/smartcloudops/internal/obs"
)

// TestMemoryFor: GOGC and GOMEMLIMIT win over the configuration; memory.limit wins over the
// container's limit; without either, the soft limit is 90 % of the cgroup's memory limit (v2 or
// v1), and none when the cgroup has none.
func TestMemoryFor(t *testing.T) {
	v2 := fstest.MapFS{
		"proc/self/cgroup":                       {Data: []byte("0::/kubepods/pod1\n")},
		"sys/fs/cgroup/kubepods/pod1/memory.max": {Data: []byte("2000000000\n")},
	}
	v1 := fstest.MapFS{
		"proc/self/cgroup": {Data: []byte("5:cpu,cpuacct:/\n4:memory:/docker/abc\n")},
		"sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes": {Data: []byte("1000000000\n")},
	}
	unlimited := fstest.MapFS{
		"proc/self/cgroup": {Data: []byte("4:memory:/x\n0::/\n")},
		"sys/fs/cgroup/memory/x/memory.limit_in_bytes": {Data: []byte("9223372036854771712\n")},
		"sys/fs/cgroup/memory.max":                     {Data: []byte("max\n")},
	}
	def := config.Default().Memory
	cases := []struct {
		name      string
		m         config.Memory
		env       []string
		root      fstest.MapFS
		gc        int
		gcFrom    string
		limit     int64
		limitFrom string
	}{
		{"defaults, no container limit", def, nil, unlimited, 0, "live heap", 0, ""},
		{"no cgroup files", def, nil, fstest.MapFS{}, 0, "live heap", 0, ""},
		{"cgroup v2", def, nil, v2, 0, "live heap", 1_800_000_000, "cgroup"},
		{"cgroup v1", def, nil, v1, 0, "live heap", 900_000_000, "cgroup"},
		{"gc off", config.Memory{GCPercent: -1}, nil, unlimited, -1, "memory.gc_percent", 0, ""},
		{"configured limit", config.Memory{GCPercent: 80, Limit: 1 << 30}, nil, v2, 80, "memory.gc_percent", 1 << 30, "memory.limit"},
		{"environment wins", config.Memory{GCPercent: 80, Limit: 1 << 30}, []string{"GOGC=200", "GOMEMLIMIT=3GiB"}, v2, 80, "GOGC", 0, "GOMEMLIMIT"},
		{"empty GOGC is unset", def, []string{"GOGC="}, unlimited, 0, "live heap", 0, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := memoryFor(c.m, c.env, c.root)
			if s.gcPercent != c.gc || s.gcFrom != c.gcFrom || s.limit != c.limit || s.limitFrom != c.limitFrom {
				t.Fatalf("settings %+v, want gc %d from %q, limit %d from %q", s, c.gc, c.gcFrom, c.limit, c.limitFrom)
			}
		})
	}
}

// TestMemoryApply: the settings reach the runtime, except those the environment set.
func TestMemoryApply(t *testing.T) {
	oldGC, oldLimit := debug.SetGCPercent(100), debug.SetMemoryLimit(math.MaxInt64)
	t.Cleanup(func() { debug.SetGCPercent(oldGC); debug.SetMemoryLimit(oldLimit) })
	memorySettings{gcPercent: 70, gcFrom: "memory.gc_percent", limit: 5 << 30, limitFrom: "memory.limit"}.apply(obs.Discard())
	if gc, limit := debug.SetGCPercent(100), debug.SetMemoryLimit(math.MaxInt64); gc != 70 || limit != 5<<30 {
		t.Fatalf("runtime gc %d limit %d, want 70 and 5GiB", gc, limit)
	}
	memorySettings{gcPercent: 70, gcFrom: "GOGC", limitFrom: "GOMEMLIMIT"}.apply(obs.Discard())
	if gc, limit := debug.SetGCPercent(100), debug.SetMemoryLimit(math.MaxInt64); gc != 100 || limit != math.MaxInt64 {
		t.Fatalf("runtime gc %d limit %d after settings from the environment: want them left alone", gc, limit)
	}
}

// TestAutoGCPercent: the heap may grow to 512 MiB, at least 256 MiB above the live heap while
// that fits, at most 5 times the live heap, and a quarter above it from 410 MiB on.
func TestAutoGCPercent(t *testing.T) {
	for live, want := range map[uint64]int{
		0:         100,
		1 << 20:   400,
		64 << 20:  400,
		128 << 20: 200, // a webhook flood
		192 << 20: 133,
		256 << 20: 100,
		384 << 20: 33,
		410 << 20: 25,
		600e6:     25, // 100,000 series
		4 << 30:   25,
	} {
		if got := autoGCPercent(live); got != want {
			t.Errorf("autoGCPercent(%d MiB) = %d, want %d", live>>20, got, want)
		}
	}
}

// TestTuneEndsWithContext: the tuner returns once its context ends, so Run can wait for it.
func TestTuneEndsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	old := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(old) })
	memorySettings{gcFrom: "live heap"}.tune(ctx)
}
