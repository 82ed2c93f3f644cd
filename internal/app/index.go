package app

import (
	"context"
	"fmt"

	"github.com/smartcloudops/smartcloudops/internal/index"
	"github.com/smartcloudops/smartcloudops/internal/obs"
)

// ensureIndexes gives a store written by a version without them the time-ordered indexes that
// the paged lists of incidents and proposals read, once; a store that has them is left alone
// after one read. A build interrupted half-way is finished at the next start.
func (b *Bot) ensureIndexes(ctx context.Context) error {
	for _, ix := range []struct {
		kind   string
		ensure func(context.Context) (bool, index.Stats, error)
	}{
		{"incidents", b.Incidents.EnsureIndex},
		{"proposals", b.Proposals.EnsureIndex},
	} {
		built, stats, err := ix.ensure(ctx)
		switch {
		case err != nil:
			return fmt.Errorf("index the stored %s: %w", ix.kind, err)
		case stats.Skipped > 0:
			b.log.WarnContext(ctx, "stored "+ix.kind+" kept changing while they were indexed; the index is built again at the next start",
				"result", stats.String())
		case built:
			b.log.InfoContext(ctx, "stored "+ix.kind+" indexed by time", "result", stats.String())
		}
	}
	return nil
}

// mendIndexes makes the indexes match the stored incidents and proposals again, where something
// other than this version wrote them: a replica of an earlier version during a rolling upgrade
// writes items without entries, and those would be missing from the lists. Retention runs it;
// on an index that matches, it writes nothing. What it mends is logged, as it means drift.
func (b *Bot) mendIndexes(ctx context.Context) {
	for _, ix := range []struct {
		kind    string
		rebuild func(context.Context) (index.Stats, error)
	}{
		{"incidents", b.Incidents.RebuildIndex},
		{"proposals", b.Proposals.RebuildIndex},
	} {
		stats, err := ix.rebuild(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			b.log.WarnContext(ctx, "the index of the stored "+ix.kind+" was not checked; will retry", obs.KeyErr, err)
		case stats.Written+stats.Removed > 0:
			b.log.WarnContext(ctx, "the index of the stored "+ix.kind+" did not match them and was mended", "result", stats.String())
		}
	}
}
