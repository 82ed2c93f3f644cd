package bot

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smartcloudops/smartcloudops/incident"
	"github.com/smartcloudops/smartcloudops/internal/store"
	"github.com/smartcloudops/smartcloudops/remediation"
	"github.com/smartcloudops/smartcloudops/remediation/audit"
)

// unreachable is an Adapter whose platform never answers: every call waits until its context
// ends, as a post to a chat API that accepts connections and never replies does.
type unreachable struct {
	recorder
	calls chan struct{}
}

func (u *unreachable) Post(ctx context.Context, _ string, _ Message) (Ref, error) {
	select {
	case u.calls <- struct{}{}:
	default:
	}
	<-ctx.Done()
	return Ref{}, ctx.Err()
}

func notifierOn(t *testing.T, st store.Store, a Adapter) (*Notifier, *incident.Manager) {
	t.Helper()
	al, _ := audit.New(audit.Options{Store: st})
	var n *Notifier
	inc, err := incident.New(incident.Options{Store: st, OnChange: func(ctx context.Context, i incident.Incident, c incident.Change) { n.IncidentChanged(ctx, i, c) }})
	if err != nil {
		t.Fatal(err)
	}
	mg, _ := remediation.New(remediation.Options{Store: st, Audit: al, Actions: func(string) (remediation.Action, bool) { return nil, false }})
	n, err = NewNotifier(NotifierOptions{Store: st, Incidents: inc, Proposals: mg, Targets: []Target{{Adapter: a, DefaultChannel: "C-ops"}}})
	if err != nil {
		t.Fatal(err)
	}
	return n, inc
}

// TestFlushStopsAtItsDeadlineAndTheNextStartSends checks that a shutdown flush with chat
// unreachable returns when its context ends, and that the cards it could not deliver are sent
// by the next start's notifier.
func TestFlushStopsAtItsDeadlineAndTheNextStartSends(t *testing.T) {
	st := store.NewMemory()
	down := &unreachable{calls: make(chan struct{}, 1)}
	n, inc := notifierOn(t, st, down)
	ctx := context.Background()
	inc.FromAnomaly(ctx, anomaly("web-1", "critical", nil))
	inc.FromAnomaly(ctx, anomaly("db-1", "warning", nil))

	fctx, cancel := context.WithCancel(ctx)
	flushed := make(chan struct{})
	go func() { n.Flush(fctx); close(flushed) }()
	<-down.calls // the first card is on its way to a platform that does not answer
	cancel()     // the shutdown deadline
	select {
	case <-flushed:
	case <-time.After(10 * time.Second):
		t.Fatal("Flush did not return when its context ended")
	}

	up := &recorder{}
	next, _ := notifierOn(t, st, up)
	rctx, stop := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- next.Run(rctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		// Both incidents are of check cpu, so they share one grouped card.
		up.mu.Lock()
		calls := slices.Clone(up.calls)
		up.mu.Unlock()
		if len(calls) == 1 && strings.Contains(calls[0], "2 incidents") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the next start posted %q, want the card of both undelivered incidents", calls)
		}
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
	if kvs, _ := st.List(ctx, pendingPrefix); len(kvs) != 0 {
		t.Errorf("%d undelivered cards still kept after they were sent", len(kvs))
	}
}
