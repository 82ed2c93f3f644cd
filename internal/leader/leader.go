// Package leader decides which replica of the bot leads. Only the leader runs the parts that act:
// checks, rules, the executor, the notifier and audit appends; every replica serves HTTP and chat
// and writes what it receives to the store, where the leader picks it up through a watch.
//
// It sits beside the flow, on top of internal/store: internal/app asks an Elector whether this
// replica leads, runs the acting parts for the length of each term (Options.OnLead), reports the
// leader in /readyz and `status`, and gives those parts a store view fenced by the term
// (store.Fenced with Elector.Fence), so that a deposed leader's late writes fail with
// store.ErrFenced instead of landing beside the new leader's.
//
// Two electors share the Elector interface: Etcd campaigns with etcd's concurrency package (a
// session whose lease lives a few seconds, Campaign, Observe, Resign) for several replicas on
// the etcd store; Local always leads, for the one process that owns a bbolt file. The package
// also holds the store-backed primitives that gate actions across failovers: a sliding-window
// counter (the hourly limit) and a per-target lock held for one term.
package leader

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smartcloudops/smartcloudops/internal/store"
)

// ErrNotLeader is returned by Fence while this replica does not lead.
var ErrNotLeader = errors.New("leader: this replica is not the leader")

// Info identifies a replica to people: in /readyz, `status` and logs.
type Info struct {
	Name    string `json:"name"`              // the replica's name, such as its host name
	Address string `json:"address,omitempty"` // where it serves HTTP, such as 10.0.0.7:9090
}

func (i Info) encode() string {
	b, _ := json.Marshal(i)
	return string(b)
}

func decodeInfo(b []byte) Info {
	var i Info
	if json.Unmarshal(b, &i) != nil || i.Name == "" {
		return Info{Name: string(b)}
	}
	return i
}

// Elector tells whether this replica leads, who leads, and the fence of the current term.
type Elector interface {
	// Run campaigns until ctx ends, leading when elected; it returns ctx's error.
	Run(ctx context.Context) error
	// IsLeader reports whether this replica leads now.
	IsLeader() bool
	// Leader returns the leader as last seen; false when none is known.
	Leader() (Info, bool)
	// Fence returns the current term's fence, or ErrNotLeader; a store.FenceFunc.
	Fence() (store.Fence, error)
}

// Options are what both electors take. Self and Registerer are required.
type Options struct {
	Self Info
	// OnLead runs for each term, in its own goroutine, with a context that ends the moment the
	// term does; the elector waits for it to return before it campaigns again, so one process
	// never runs two terms' parts at once.
	OnLead func(ctx context.Context, fence store.Fence)
	// Registerer receives smartcloudops_leader (1 while this replica leads, 0 otherwise).
	Registerer prometheus.Registerer
}

func (o *Options) check() error {
	var errs []error
	if o.Self.Name == "" {
		errs = append(errs, errors.New("leader: Options.Self.Name is required"))
	}
	if o.Registerer == nil {
		errs = append(errs, errors.New("leader: Options.Registerer is required"))
	}
	if o.OnLead == nil {
		o.OnLead = func(context.Context, store.Fence) {}
	}
	return errors.Join(errs...)
}

func newGauge(r prometheus.Registerer) (prometheus.Gauge, error) {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "smartcloudops_leader",
		Help: "1 while this replica is the leader (runs checks, rules, the executor and the notifier), 0 otherwise."})
	if err := r.Register(g); err != nil {
		return nil, err
	}
	return g, nil
}
