package remediation

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
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
	case pending && (rev == 0 || !was):
		return []store.Op{{Key: expiryKey(p), Value: []byte(p.ID)}}
	case was && !pending:
		return []store.Op{{Key: expiryKey(p), Delete: true}}
	}
	return nil
}

// ExpireDue marks pending proposals past their expiry as expired. It reads only the entries of
// the expiry index that are due, and the proposals they name. Pending proposals stored without
// an entry (by a version before the index, or by one during a rolling upgrade) are given theirs
// by RebuildIndex, which retention runs at start and hourly.
func (mg *Manager) ExpireDue(ctx context.Context) error {
	now := mg.o.Now().UTC()
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
				gone, err := mg.expire(ctx, id, kv.Key, now)
				if err != nil {
					return err
				}
				if !gone {
					continue
				}
			}
			// Not an entry, or not the entry of a pending proposal (it is gone, decided, or
			// expires at another time): what wrote it changed the proposal without it.
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

// expire marks proposal id expired if it is pending and due at now. It reports whether its
// entry, key, has nothing left to do: the proposal is gone, no longer pending, or pending with
// another entry.
func (mg *Manager) expire(ctx context.Context, id, key string, now time.Time) (bool, error) {
	p, err := mg.update(ctx, id, func(p *Proposal) (*audit.Record, error) {
		if p.State != StatePending || now.Before(p.ExpiresAt) {
			return nil, errNoChange
		}
		p.State, p.Reason = StateExpired, "no decision before "+p.ExpiresAt.Format(time.RFC3339)
		return rec("proposal.expired", botActor, "expired", p.Reason), nil
	})
	switch {
	case errors.Is(err, errNoChange):
		return p.State != StatePending || expiryKey(p) != key, nil
	case obs.IsUser(err):
		return true, nil // no such proposal
	case err != nil:
		return false, err
	}
	mg.o.OnChange(ctx, p)
	return false, nil // its entry went with the change
}

// expiryMends are the writes that give the pending proposals among ps the expiry entries they
// lack, of those entries stored now.
func expiryMends(ps []Proposal, entries []store.KV) []store.Op {
	have := make(map[string]bool, len(entries))
	for _, kv := range entries {
		have[kv.Key] = true
	}
	var ops []store.Op
	for _, p := range ps {
		if k := expiryKey(p); p.State == StatePending && !have[k] {
			ops = append(ops, store.Op{Key: k, Value: []byte(p.ID)})
		}
	}
	return ops
}
