package remediation

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/internal/store"
	"github.com/smartcloudops/smartcloudops/remediation/audit"
)

// expiryPrefix orders pending proposals by when they expire, earliest first, one key each:
// <expiryPrefix><Unix nanoseconds, 20 digits>/<ID>. The entry is written with the proposal when
// it is made, and deleted in the transaction that takes it out of pending, so ExpireDue reads
// only the proposals that are due rather than every proposal stored.
const expiryPrefix = "proposal-index/expiry/"

// sweepEvery is how often ExpireDue also reads every stored proposal, as it did before the
// index: the first time on each process that expires proposals, which gives the pending
// proposals of a store written before the index their entries, and then hourly, for those a
// replica of an earlier version made during a rolling upgrade.
const sweepEvery = time.Hour

// expiryPage is how many entries ExpireDue reads at a time.
const expiryPage = 128

func expiryKey(p Proposal) string {
	return expiryPrefix + fmt.Sprintf("%020d", max(p.ExpiresAt.UnixNano(), 0)) + "/" + p.ID
}

// parseExpiryKey is the time and proposal ID an entry's key names; false for a key that is not
// an entry.
func parseExpiryKey(key string) (time.Time, string, bool) {
	at, id, ok := strings.Cut(strings.TrimPrefix(key, expiryPrefix), "/")
	ns, err := strconv.ParseInt(at, 10, 64)
	if !ok || err != nil || len(at) != 20 || id == "" {
		return time.Time{}, "", false
	}
	return time.Unix(0, ns).UTC(), id, true
}

// expiryOps are the expiry index's writes for storing p over the copy at rev (0: p is new)
// whose state was p.stored: an entry while p is pending, none once it is not.
func expiryOps(p Proposal, rev uint64) []store.Op {
	pending, was := p.State == StatePending, p.stored == StatePending
	switch {
	case rev == 0 || p.stored == "":
		if pending {
			return []store.Op{{Key: expiryKey(p), Value: []byte(p.ID)}}
		}
	case pending && !was:
		return []store.Op{{Key: expiryKey(p), Value: []byte(p.ID)}}
	case was && !pending:
		return []store.Op{{Key: expiryKey(p), Delete: true}}
	}
	return nil
}

// sweeper remembers when ExpireDue last read every proposal.
type sweeper struct {
	mu   sync.Mutex
	last time.Time
}

// due reports whether a sweep is due at now, and if so counts it as made.
func (s *sweeper) due(now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.last.IsZero() && now.Sub(s.last) < sweepEvery && !now.Before(s.last) {
		return false
	}
	s.last = now
	return true
}

// ExpireDue marks pending proposals past their expiry as expired. It reads the entries of the
// expiry index that are due; now and then (sweepEvery) it reads every proposal instead and gives
// pending ones without an entry theirs.
func (mg *Manager) ExpireDue(ctx context.Context) error {
	now := mg.o.Now().UTC()
	if mg.sweep.due(now) {
		return mg.expireAll(ctx, now)
	}
	after := ""
	for {
		page, err := mg.o.Store.ListPage(ctx, expiryPrefix, after, expiryPage)
		if err != nil {
			return err
		}
		var stale []store.Op
		for _, kv := range page.KVs {
			at, id, ok := parseExpiryKey(kv.Key)
			if ok && now.Before(at) {
				_, err := store.WriteAll(ctx, mg.o.Store, stale)
				return err
			}
			if ok {
				gone, err := mg.expire(ctx, id, now)
				if err != nil {
					return err
				}
				if !gone {
					continue
				}
			}
			// Not an entry, or that of a proposal no longer pending (or gone): an earlier
			// version changed it without its entry.
			stale = append(stale, store.Op{Key: kv.Key, Delete: true})
		}
		if _, err := store.WriteAll(ctx, mg.o.Store, stale); err != nil {
			return err
		}
		if page.Next == "" {
			return nil
		}
		after = page.Next
	}
}

// expire marks proposal id expired if it is pending and due at now. It reports whether the
// proposal is gone or no longer pending, so that its entry has nothing left to do.
func (mg *Manager) expire(ctx context.Context, id string, now time.Time) (bool, error) {
	p, err := mg.update(ctx, id, func(p *Proposal) (*audit.Record, error) {
		if p.State != StatePending || now.Before(p.ExpiresAt) {
			return nil, errNoChange
		}
		p.State, p.Reason = StateExpired, "no decision before "+p.ExpiresAt.Format(time.RFC3339)
		return rec("proposal.expired", botActor, "expired", p.Reason), nil
	})
	switch {
	case errors.Is(err, errNoChange):
		return p.State != StatePending, nil
	case obs.IsUser(err):
		return true, nil // no such proposal
	case err != nil:
		return false, err
	}
	mg.o.OnChange(ctx, p)
	return false, nil // its entry went with the change
}

// expireAll expires the due proposals among every stored one, and writes the missing entries of
// those still pending.
func (mg *Manager) expireAll(ctx context.Context, now time.Time) error {
	all, err := mg.List(ctx, StatePending)
	if err != nil {
		return err
	}
	entries, err := mg.o.Store.List(ctx, expiryPrefix)
	if err != nil {
		return err
	}
	have := make(map[string]bool, len(entries))
	for _, kv := range entries {
		have[kv.Key] = true
	}
	var missing []store.Op
	for _, p := range all {
		if now.Before(p.ExpiresAt) {
			if k := expiryKey(p); !have[k] {
				missing = append(missing, store.Op{Key: k, Value: []byte(p.ID)})
			}
			continue
		}
		if _, err := mg.expire(ctx, p.ID, now); err != nil {
			return err
		}
	}
	if len(missing) > 0 {
		mg.log.InfoContext(ctx, "pending proposals given their expiry entries", "count", len(missing))
	}
	_, err = store.WriteAll(ctx, mg.o.Store, missing)
	return err
}
