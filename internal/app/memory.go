package app

import (
	"bufio"
	"bytes"
	"context"
	"io/fs"
	"log/slog"
	"math"
	"path"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"time"

	"github.com/smartcloudops/smartcloudops/internal/config"
)

// memorySettings is what the process' garbage collector runs with, and where each came from.
type memorySettings struct {
	gcPercent   int    // -1: off; 0: adapted to the live heap (gcTuner)
	gcFrom      string // "GOGC", "memory.gc_percent" or "live heap"
	limit       int64  // bytes; 0: none
	limitFrom   string // "GOMEMLIMIT", "memory.limit", "cgroup" or ""
	cgroupLimit int64  // the container's memory limit, 0 when there is none
}

// cgroupLimitShare is the share of a container's memory limit the soft limit is set to by
// default: the rest is left to what the Go runtime does not count (stacks of threads, the
// binary's pages) and to the kernel's page cache of the store.
const cgroupLimitShare = 0.9

// memoryFor decides the garbage collector's settings from the configuration, the environment
// and the container's memory limit read from root (the root of /proc and /sys). GOGC and
// GOMEMLIMIT, when set, are Go's own and win; the runtime has applied them already.
func memoryFor(m config.Memory, environ []string, root fs.FS) memorySettings {
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	s := memorySettings{gcPercent: m.GCPercent, gcFrom: "memory.gc_percent", cgroupLimit: cgroupMemoryLimit(root)}
	switch {
	case env["GOGC"] != "":
		s.gcFrom = "GOGC"
	case m.GCPercent == 0:
		s.gcFrom = "live heap"
	}
	switch {
	case env["GOMEMLIMIT"] != "":
		s.limitFrom = "GOMEMLIMIT"
	case m.Limit > 0:
		s.limit, s.limitFrom = int64(m.Limit), "memory.limit"
	case s.cgroupLimit > 0:
		s.limit, s.limitFrom = int64(float64(s.cgroupLimit)*cgroupLimitShare), "cgroup"
	}
	return s
}

// apply sets what the environment did not, and logs the result; tune then adapts the percentage
// when it is the live heap's to set.
func (s memorySettings) apply(log *slog.Logger) {
	switch s.gcFrom {
	case "memory.gc_percent":
		debug.SetGCPercent(s.gcPercent)
	case "live heap":
		debug.SetGCPercent(autoGCPercent(liveHeap()))
	}
	if s.limitFrom != "GOMEMLIMIT" && s.limit > 0 {
		debug.SetMemoryLimit(s.limit)
	}
	gc := debug.SetGCPercent(-1)
	debug.SetGCPercent(gc)
	limit := debug.SetMemoryLimit(-1)
	attrs := []any{"gc_percent", gc, "gc_percent_from", s.gcFrom}
	if limit < math.MaxInt64 {
		attrs = append(attrs, "soft_limit_bytes", limit, "soft_limit_from", s.limitFrom)
	}
	if s.cgroupLimit > 0 {
		attrs = append(attrs, "cgroup_limit_bytes", s.cgroupLimit)
	}
	log.Info("memory: garbage collector settings", attrs...)
}

// The adaptive heap goal: the heap may grow to autoFloor before a collection, leaving at least
// autoHeadroom above the live heap while that fits under autoFloor, and a quarter of the live
// heap (autoMinPercent) once it does not; never more than autoMaxPercent of the live heap. A
// small bot with a busy intake (a live heap of 100 to 200 MB in a webhook flood) collects two
// to four times less often than with Go's default, where it spent a quarter of its CPU; one
// with 100,000 series (about 600 MB live) keeps about 150 MB spare instead of 600 MB.
const (
	autoHeadroom   = 256 << 20
	autoFloor      = 512 << 20
	autoMinPercent = 25
	autoMaxPercent = 400
	// tuneEvery is how often the tuner reads the live heap; the heap of a bot grows with its
	// series over minutes, not seconds.
	tuneEvery = 5 * time.Second
)

// autoGCPercent is the GOGC percentage that gives live bytes the adaptive heap goal.
func autoGCPercent(live uint64) int {
	if live == 0 {
		return 100
	}
	goal := max(live+live/100*autoMinPercent, min(live+autoHeadroom, autoFloor))
	return int(max(autoMinPercent, min(autoMaxPercent, (goal-live)*100/live)))
}

// liveHeap is the heap marked live by the last collection.
func liveHeap() uint64 {
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(sample)
	if sample[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return sample[0].Value.Uint64()
}

// tune adapts the GOGC percentage to the live heap every tuneEvery until ctx ends, when the
// percentage is the live heap's to set.
func (s memorySettings) tune(ctx context.Context) {
	if s.gcFrom != "live heap" {
		return
	}
	t := time.NewTicker(tuneEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			debug.SetGCPercent(autoGCPercent(liveHeap()))
		}
	}
}

// cgroupMemoryLimit is the memory limit of the process' cgroup (v2 memory.max, or v1
// memory.limit_in_bytes), 0 when there is none or it cannot be read.
func cgroupMemoryLimit(root fs.FS) int64 {
	data, err := fs.ReadFile(root, "proc/self/cgroup")
	if err != nil {
		return 0
	}
	var candidates []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		// hierarchy-ID:controllers:path; v2 is "0::/path".
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		rel := strings.TrimPrefix(path.Clean(parts[2]), "/")
		switch {
		case parts[0] == "0" && parts[1] == "":
			candidates = append(candidates, path.Join("sys/fs/cgroup", rel, "memory.max"), "sys/fs/cgroup/memory.max")
		case strings.Contains(","+parts[1]+",", ",memory,"):
			candidates = append(candidates, path.Join("sys/fs/cgroup/memory", rel, "memory.limit_in_bytes"),
				"sys/fs/cgroup/memory/memory.limit_in_bytes")
		}
	}
	for _, c := range candidates {
		b, err := fs.ReadFile(root, c)
		if err != nil {
			continue
		}
		v := strings.TrimSpace(string(b))
		if v == "max" {
			return 0
		}
		n, err := strconv.ParseInt(v, 10, 64)
		// v1 writes a page-rounded MaxInt64 for no limit.
		if err != nil || n <= 0 || n >= 1<<60 {
			return 0
		}
		return n
	}
	return 0
}
