package bot

import (
	"context"
	"strings"
	"time"

	"github.com/smartcloudops/smartcloudops/incident"
	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/internal/store"
	"github.com/smartcloudops/smartcloudops/remediation"
)

// Follow queues the card of every incident and proposal written to the store, by this process
// or another replica, until ctx ends. With several replicas the notifier runs on the leader
// only, while a click, a command or an approval may be handled on any replica: the change
// reaches the leader's cards through the store. (A change made here is also queued directly;
// queued changes of one card are coalesced.)
func (n *Notifier) Follow(ctx context.Context) error {
	n.catchUp(ctx)
	for ctx.Err() == nil {
		wctx, cancel := context.WithCancel(ctx)
		incs := n.o.Store.Watch(wctx, incident.StorePrefix, 0)
		props := n.o.Store.Watch(wctx, remediation.StorePrefix, 0)
		n.follow(ctx, incs, props)
		cancel()
		if ctx.Err() == nil {
			// A watch ended (compacted, cut off): changes in the gap are picked up by the next
			// change of each card; start watching again.
			n.log.WarnContext(ctx, "store watch ended; watching again")
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
	return nil
}

// follow queues cards from two watches until either ends.
func (n *Notifier) follow(ctx context.Context, incs, props <-chan store.WatchResponse) {
	for {
		select {
		case <-ctx.Done():
			return
		case r, ok := <-incs:
			if !ok || r.Err != nil {
				return
			}
			for _, e := range r.Events {
				if e.Type == store.EventPut {
					id := strings.TrimPrefix(e.KV.Key, incident.StorePrefix)
					n.enqueue(id, job{incident: id})
				}
			}
		case r, ok := <-props:
			if !ok || r.Err != nil {
				return
			}
			for _, e := range r.Events {
				if e.Type != store.EventPut {
					continue
				}
				p, err := remediation.DecodeProposal(e.KV)
				if err != nil {
					n.log.WarnContext(ctx, "unreadable proposal in a store watch", "key", e.KV.Key, obs.KeyErr, err)
					continue
				}
				n.ProposalChanged(ctx, p)
			}
		}
	}
}

// catchUp queues the cards of what is open now, as a new leader begins: changes made while no
// replica led, or before this one started to follow, reach the cards.
func (n *Notifier) catchUp(ctx context.Context) {
	incs, err := n.o.Incidents.List(ctx, false)
	if err != nil {
		n.log.WarnContext(ctx, "open incidents not read at the start of the term", obs.KeyErr, err)
	}
	for _, inc := range incs {
		n.enqueue(inc.ID, job{incident: inc.ID})
	}
	ps, err := n.o.Proposals.List(ctx, remediation.StatePending, remediation.StateApproved, remediation.StateRunning, remediation.StateUnknown)
	if err != nil {
		n.log.WarnContext(ctx, "open proposals not read at the start of the term", obs.KeyErr, err)
	}
	for _, p := range ps {
		n.ProposalChanged(ctx, p)
	}
}
