package loadtest

import (
	"context"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Machine describes where the figures were measured.
type Machine struct {
	Cores    int        `json:"cores"`
	LoadAvg  [3]float64 `json:"load_average_at_start"`
	MemTotal int64      `json:"mem_total_bytes"`
	Kernel   string     `json:"kernel,omitempty"`
}

// ReadMachine reads the core count, load average and memory of this machine.
func ReadMachine() Machine {
	m := Machine{Cores: runtime.NumCPU(), LoadAvg: loadAvg()}
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.SplitSeq(string(data), "\n") {
			if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
				m.MemTotal = kb << 10
			}
		}
	}
	if data, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(data))
	}
	return m
}

func loadAvg() [3]float64 {
	var out [3]float64
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return out
	}
	f := strings.Fields(string(data))
	for i := 0; i < 3 && i < len(f); i++ {
		out[i], _ = strconv.ParseFloat(f[i], 64)
	}
	return out
}

// Conditions is the machine's state while a scenario ran: the load average (1 minute) sampled
// every few seconds, and the CPU the bot, the harness and wrk used, to show which side a figure
// was limited by.
type Conditions struct {
	LoadMedian float64 `json:"load1_median"`
	LoadMax    float64 `json:"load1_max"`
	Seconds    float64 `json:"seconds"`
	BotCPU     float64 `json:"bot_cpu_seconds"`
	HarnessCPU float64 `json:"harness_cpu_seconds"` // the fake Prometheus, the Go client and the polling
	WrkCPU     float64 `json:"wrk_cpu_seconds,omitempty"`
}

// watch samples the load average until stop is called, and accounts CPU.
type watch struct {
	start    time.Time
	cpu0     float64
	mu       sync.Mutex
	loads    []float64
	stopOnce sync.Once
	done     chan struct{}
	wg       sync.WaitGroup
}

func startWatch(ctx context.Context) *watch {
	w := &watch{start: time.Now(), cpu0: selfCPU(), done: make(chan struct{})}
	w.sample()
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				w.sample()
			case <-w.done:
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	return w
}

func (w *watch) sample() {
	l := loadAvg()[0]
	w.mu.Lock()
	w.loads = append(w.loads, l)
	w.mu.Unlock()
}

// close ends the sampling; a scenario defers it, for the paths that do not reach stop.
func (w *watch) close() {
	w.stopOnce.Do(func() { close(w.done) })
	w.wg.Wait()
}

// stop ends the sampling and returns the conditions; botCPU is the bot's CPU over the scenario.
func (w *watch) stop(botCPU, wrkCPU float64) Conditions {
	w.close()
	w.sample()
	w.mu.Lock()
	loads := append([]float64(nil), w.loads...)
	w.mu.Unlock()
	sort.Float64s(loads)
	return Conditions{LoadMedian: median(loads), LoadMax: loads[len(loads)-1], Seconds: time.Since(w.start).Seconds(),
		BotCPU: botCPU, HarnessCPU: selfCPU() - w.cpu0, WrkCPU: wrkCPU}
}

func median(sorted []float64) float64 {
	n := len(sorted)
	switch {
	case n == 0:
		return 0
	case n%2 == 1:
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

// selfCPU is the harness' own CPU time so far, in seconds.
func selfCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return tv(ru.Utime) + tv(ru.Stime)
}

func tv(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
