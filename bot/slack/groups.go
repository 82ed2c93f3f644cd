package slack

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	slackapi "github.com/slack-go/slack"
)

// groupDirectory maps user IDs to the IDs of the Slack user groups they belong to. It reads
// the whole list with usergroups.list (include_users) and keeps it for ttl, so a burst of
// events costs one API call. Refreshes are serialised; while one runs, other callers wait
// for it rather than calling Slack again.
type groupDirectory struct {
	fetch func(ctx context.Context) ([]slackapi.UserGroup, error)
	ttl   time.Duration
	now   func() time.Time
	log   *slog.Logger

	mu      sync.Mutex
	byUser  map[string][]string
	fetched time.Time // zero until the first successful fetch
	failed  time.Time // last failed fetch, to avoid asking again on every event
}

// groupsRetryAfterFailure is how long a failed fetch is not retried.
const groupsRetryAfterFailure = 30 * time.Second

// groups returns the user group IDs of user, sorted. On a fetch failure it returns the last
// known groups (none if never fetched) and logs the failure once per retry period.
func (g *groupDirectory) groups(ctx context.Context, user string) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	fresh := !g.fetched.IsZero() && now.Sub(g.fetched) < g.ttl
	recentFailure := !g.failed.IsZero() && now.Sub(g.failed) < groupsRetryAfterFailure
	if !fresh && !recentFailure {
		if err := g.refreshLocked(ctx, now); err != nil {
			g.failed = now
			g.log.Warn("slack user groups unavailable; using the last known list", "err", err)
		}
	}
	return slices.Clone(g.byUser[user])
}

func (g *groupDirectory) refreshLocked(ctx context.Context, now time.Time) error {
	list, err := g.fetch(ctx)
	if err != nil {
		return fmt.Errorf("usergroups.list: %w", err)
	}
	by := make(map[string][]string)
	for _, ug := range list {
		if ug.DateDelete != 0 {
			continue
		}
		for _, u := range ug.Users {
			by[u] = append(by[u], ug.ID)
		}
	}
	for _, ids := range by {
		slices.Sort(ids)
	}
	g.byUser = by
	g.fetched = now
	g.failed = time.Time{}
	return nil
}
