package app

import (
	"context"
	"fmt"

	"github.com/smartcloudops/smartcloudops/internal/index"
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
