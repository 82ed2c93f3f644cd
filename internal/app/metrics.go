package app

import (
	"regexp"
	"sort"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// recordingRegisterer registers with the bot's registry and remembers every metric name, so the
// bot can say which metrics it exports even before they have samples (for the check that every
// metric a dashboard or alert uses exists).
type recordingRegisterer struct {
	prometheus.Registerer
	mu    sync.Mutex
	names map[string]bool
}

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

func (r *recordingRegisterer) record(c prometheus.Collector) {
	ch := make(chan *prometheus.Desc, 16)
	go func() { c.Describe(ch); close(ch) }()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.names == nil {
		r.names = map[string]bool{}
	}
	for d := range ch {
		if m := fqName.FindStringSubmatch(d.String()); m != nil {
			r.names[m[1]] = true
		}
	}
}

// Register implements prometheus.Registerer.
func (r *recordingRegisterer) Register(c prometheus.Collector) error {
	err := r.Registerer.Register(c)
	if err == nil {
		r.record(c)
	}
	return err
}

// MustRegister implements prometheus.Registerer.
func (r *recordingRegisterer) MustRegister(cs ...prometheus.Collector) {
	r.Registerer.MustRegister(cs...)
	for _, c := range cs {
		r.record(c)
	}
}

// MetricNames lists every metric the bot registered, by name.
func (b *Bot) MetricNames() []string {
	b.regr.mu.Lock()
	defer b.regr.mu.Unlock()
	out := make([]string, 0, len(b.regr.names))
	for n := range b.regr.names {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
