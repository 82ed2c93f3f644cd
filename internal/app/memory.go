package app

import (
	"bufio"
	"bytes"
	"io/fs"
	"log/slog"
	"math"
	"path"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/smartcloudops/smartcloudops/internal/config"
)

// memorySettings is what the process' garbage collector runs with, and where each came from.
type memorySettings struct {
	gcPercent   int    // -1: off
	gcFrom      string // "GOGC" or "memory.gc_percent"
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
	if v, ok := env["GOGC"]; ok && v != "" {
		s.gcFrom = "GOGC"
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

// apply sets what the environment did not, and logs the result.
func (s memorySettings) apply(log *slog.Logger) {
	if s.gcFrom != "GOGC" {
		debug.SetGCPercent(s.gcPercent)
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
