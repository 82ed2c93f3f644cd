// Package procfs is the local-machine source at the start of the flow: it reads this machine's
// CPU, memory, load and disk usage through prometheus/procfs, one point per series per tick, so
// `smartcloudops serve` watches the host it runs on with no Prometheus at all.
package procfs

import (
	"context"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/procfs"

	"github.com/smartcloudops/smartcloudops/detector"
)

// Options configures a Source.
type Options struct {
	Metric string   // cpu (busy %), memory (used %), load (1-minute load average), disk (used %)
	Root   string   // procfs mount; default /proc
	Paths  []string // disk: mount points to watch; default "/"
}

// Source reads one metric of this machine.
type Source struct {
	o    Options
	fs   procfs.FS
	host string

	mu       sync.Mutex
	lastBusy float64
	lastAll  float64
}

// New returns a Source, checking that the metric can be read.
func New(o Options) (*Source, error) {
	if o.Root == "" {
		o.Root = procfs.DefaultMountPoint
	}
	if len(o.Paths) == 0 {
		o.Paths = []string{"/"}
	}
	switch o.Metric {
	case "cpu", "memory", "load", "disk":
	default:
		return nil, fmt.Errorf("procfs: unknown metric %q (cpu, memory, load, disk)", o.Metric)
	}
	fs, err := procfs.NewFS(o.Root)
	if err != nil {
		return nil, fmt.Errorf("procfs: %w", err)
	}
	host, _ := os.Hostname()
	s := &Source{o: o, fs: fs, host: host}
	if o.Metric == "cpu" {
		// Take the first reading now, so the first Fetch can already report a rate.
		if _, err := s.Fetch(context.Background(), time.Now()); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Fetch implements detector.Source.
func (s *Source) Fetch(_ context.Context, now time.Time) ([]detector.Series, error) {
	labels := func(extra ...string) map[string]string {
		l := map[string]string{"host": s.host, "metric": s.o.Metric}
		for i := 0; i+1 < len(extra); i += 2 {
			l[extra[i]] = extra[i+1]
		}
		return l
	}
	one := func(v float64) []detector.Series {
		return []detector.Series{{Labels: labels(), Points: []detector.Point{{T: now, V: v}}}}
	}
	switch s.o.Metric {
	case "cpu":
		st, err := s.fs.Stat()
		if err != nil {
			return nil, fmt.Errorf("procfs: read stat: %w", err)
		}
		c := st.CPUTotal
		idle := c.Idle + c.Iowait
		all := c.User + c.Nice + c.System + c.Idle + c.Iowait + c.IRQ + c.SoftIRQ + c.Steal
		s.mu.Lock()
		defer s.mu.Unlock()
		dAll, dBusy := all-s.lastAll, (all-idle)-s.lastBusy
		first := s.lastAll == 0
		s.lastAll, s.lastBusy = all, all-idle
		if first || dAll <= 0 {
			return nil, nil // a rate needs two readings
		}
		return one(100 * dBusy / dAll), nil
	case "memory":
		mi, err := s.fs.Meminfo()
		if err != nil {
			return nil, fmt.Errorf("procfs: read meminfo: %w", err)
		}
		if mi.MemTotal == nil || mi.MemAvailable == nil || *mi.MemTotal == 0 {
			return nil, fmt.Errorf("procfs: meminfo lacks MemTotal or MemAvailable")
		}
		return one(100 * float64(*mi.MemTotal-*mi.MemAvailable) / float64(*mi.MemTotal)), nil
	case "load":
		la, err := s.fs.LoadAvg()
		if err != nil {
			return nil, fmt.Errorf("procfs: read loadavg: %w", err)
		}
		return one(la.Load1), nil
	default: // disk
		var out []detector.Series
		for _, p := range s.o.Paths {
			var st syscall.Statfs_t
			if err := syscall.Statfs(p, &st); err != nil {
				return nil, fmt.Errorf("procfs: statfs %s: %w", p, err)
			}
			total := float64(st.Blocks) * float64(st.Bsize)
			if total == 0 {
				continue
			}
			used := total - float64(st.Bavail)*float64(st.Bsize)
			out = append(out, detector.Series{Labels: labels("mountpoint", p), Points: []detector.Point{{T: now, V: 100 * used / total}}})
		}
		return out, nil
	}
}
