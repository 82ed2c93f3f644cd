package app

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/internal/store"
	"github.com/smartcloudops/smartcloudops/remediation/audit"
)

// retentionEvery is how often the bot deletes the incidents and proposals its retention settings
// let go. (Series are forgotten by their checks, at each tick.)
const retentionEvery = time.Hour

// retention deletes what is past config.Retention and counts it.
type retention struct {
	b       *Bot
	charts  string // the directory incident charts are drawn in
	deleted *prometheus.CounterVec
	now     func() time.Time
}

func newRetention(b *Bot, charts string) *retention {
	if abs, err := filepath.Abs(charts); err == nil {
		charts = abs // charts are recorded by absolute path
	}
	r := &retention{b: b, charts: filepath.Clean(charts), now: time.Now, deleted: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "smartcloudops_retention_deleted_total",
		Help: "Resolved incidents and ended proposals deleted once past their retention, by kind (incident, proposal).",
	}, []string{"kind"})}
	b.regr.MustRegister(r.deleted)
	r.deleted.WithLabelValues("incident") // dashboards show 0, not "No data", before the first prune
	r.deleted.WithLabelValues("proposal")
	return r
}

// run prunes at start and then every retentionEvery until ctx ends.
func (r *retention) run(ctx context.Context) error {
	t := time.NewTicker(retentionEvery)
	defer t.Stop()
	for {
		r.prune(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// prune deletes incidents resolved and proposals ended longer ago than their retention, with
// the charts of those incidents, and writes one audit record saying what went; then it mends
// the indexes of what is left (mendIndexes). A failure is logged and retried at the next run:
// what was not deleted this time is deleted then.
func (r *retention) prune(ctx context.Context) {
	ret, now := r.b.cfg.Retention, r.now()
	var done []string
	report := func(kind, ended string, n int, cutoff time.Time, err error) {
		if n > 0 {
			noun := kind
			if n != 1 {
				noun += "s"
			}
			r.deleted.WithLabelValues(kind).Add(float64(n))
			done = append(done, fmt.Sprintf("%d %s %s before %s", n, noun, ended, cutoff.Format(time.RFC3339)))
		}
		if err != nil && ctx.Err() == nil {
			r.b.log.WarnContext(ctx, "retention: deleting old "+kind+"s failed; will retry", obs.KeyErr, err)
		}
	}
	if keep := ret.Incidents.D(); keep > 0 {
		cutoff := now.Add(-keep).UTC()
		incs, err := r.b.Incidents.Prune(ctx, cutoff)
		for _, inc := range incs {
			r.removeChart(ctx, inc.ChartPath)
		}
		report("incident", "resolved", len(incs), cutoff, err)
	}
	if keep := ret.Proposals.D(); keep > 0 {
		cutoff := now.Add(-keep).UTC()
		n, err := r.b.Proposals.Prune(ctx, cutoff)
		report("proposal", "ended", n, cutoff, err)
	}
	r.b.mendIndexes(ctx)
	r.logSpace(ctx)
	if len(done) == 0 {
		return
	}
	detail := strings.Join(done, "; ")
	r.b.log.InfoContext(ctx, "retention: deleted "+detail)
	if _, err := r.b.Audit.Append(ctx, audit.Record{Kind: "retention.pruned", User: "bot", Detail: detail}); err != nil {
		r.b.log.ErrorContext(ctx, "retention: audit record not written", obs.KeyErr, err)
	}
}

// Retention suggests compacting the bbolt file once free pages are compactShare of it and at
// least compactFree bytes.
const (
	compactShare = 0.5
	compactFree  = 16 << 20
)

// logSpace logs how much of the bbolt file is free pages, which the file keeps after deletions
// until `smartcloudops store compact` (bot stopped) gives them back.
func (r *retention) logSpace(ctx context.Context) {
	st := r.b.Store
	if u, ok := st.(interface{ Unwrap() store.Store }); ok {
		st = u.Unwrap()
	}
	sp, ok := st.(interface {
		Space() (size, free int64, err error)
	})
	if !ok {
		return
	}
	size, free, err := sp.Space()
	if err != nil || size == 0 {
		return
	}
	share := float64(free) / float64(size)
	msg := "retention: store file space"
	if share >= compactShare && free >= compactFree {
		msg += "; most of the file is free pages: stop the bot and run `smartcloudops store compact` to give them back"
	}
	r.b.log.InfoContext(ctx, msg, "file_bytes", size, "free_bytes", free, "free_share", math.Round(share*100)/100)
}

// removeChart deletes a pruned incident's chart, but only a file inside the bot's chart
// directory: the path comes from the store and is never trusted to point anywhere else.
func (r *retention) removeChart(ctx context.Context, path string) {
	if path == "" {
		return
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	if filepath.Dir(path) != r.charts {
		r.b.log.WarnContext(ctx, "retention: chart outside the chart directory left alone", "path", path)
		return
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		r.b.log.WarnContext(ctx, "retention: chart not deleted", "path", path, obs.KeyErr, err)
	}
}
