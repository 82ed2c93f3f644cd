package app

import (
	"context"
	"time"

	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/internal/store"
)

// releaseEvery is how often the pages of the store file that the bot's reads and writes mapped
// in are released from its RSS (store.ReleaseMapped). Saves of the detector's state release them
// as they go; everything else (incidents, proposals, cards, the API's pages) touches pages too,
// and without this they would count in the bot's RSS until the next save: up to a hundred
// megabytes at 100,000 series.
const releaseEvery = 10 * time.Second

// releaseMapped releases the store file's mapped pages every releaseEvery until ctx ends. A
// failure costs only memory: it is logged once and the loop ends.
func (b *Bot) releaseMapped(ctx context.Context) error {
	t := time.NewTicker(releaseEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := store.ReleaseMapped(b.Store); err != nil {
			b.log.WarnContext(ctx, "the store's mapped pages stay resident", obs.KeyErr, err)
			return nil
		}
	}
}
