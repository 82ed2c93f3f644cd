package prometheus

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"sync"
	"time"

	"github.com/smartcloudops/smartcloudops/detector"
)

// DefaultMaxPoints is how many points per series a Source reads at most in one tick when
// SourceOptions.MaxPoints is zero.
const DefaultMaxPoints = 10

// SourceOptions configures a Source. Query and Interval are required.
type SourceOptions struct {
	// Query is the PromQL expression the check scores; each result series is one detector series.
	Query string
	// Interval is the time between the check's ticks: the spacing of the points the source reads
	// for a tick that comes after a gap.
	Interval time.Duration
	// MaxPoints bounds the points per series one tick reads after a gap (ticks skipped while an
	// earlier one ran, or failed queries): the gap is filled back at Interval spacing up to this
	// many points, the most recent ones. Zero means DefaultMaxPoints; 1 reads only the tick's
	// own point.
	MaxPoints int
	// Labels are added to every series' labels, a series label of the same name winning, as a
	// check adds its own labels (detector.CheckSpec.Labels): the series' one label map then
	// carries them, and the check keeps that map rather than a merged copy of it.
	Labels map[string]string
}

// Source is a check's detector.Source over one PromQL query. Each tick reads only what is new
// since the last tick that succeeded: the query evaluated at the tick's time, with one instant
// query, as long as ticks come on time; after a gap, the points that fill it at the check's
// interval with one range query, never reaching back to the time already read, so no point is
// read twice.
//
// The label maps of the series it returns are shared from one tick to the next (a series keeps
// its map while it answers with the same labels); callers must not modify them.
type Source struct {
	c    *Client
	o    SourceOptions
	mu   sync.Mutex // one tick at a time
	last time.Time  // the evaluation time of the last tick that succeeded
	// labels maps the series of the last answer to their label maps.
	labels labelCache
	hint   int // the series count of the last answer
}

var _ detector.Source = (*Source)(nil)

// Source returns a Source that runs o.Query through c.
func (c *Client) Source(o SourceOptions) (*Source, error) {
	var errs []error
	if o.Query == "" {
		errs = append(errs, errors.New("Query is required"))
	}
	if o.Interval <= 0 {
		errs = append(errs, fmt.Errorf("Interval %s must be positive", o.Interval))
	}
	if o.MaxPoints < 0 {
		errs = append(errs, fmt.Errorf("MaxPoints %d is negative", o.MaxPoints))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("prometheus: invalid source options: %w", errors.Join(errs...))
	}
	if o.MaxPoints == 0 {
		o.MaxPoints = DefaultMaxPoints
	}
	s := &Source{c: c, o: o}
	s.labels.extra = maps.Clone(o.Labels)
	return s, nil
}

// Fetch implements detector.Source: it evaluates the query at now (to the millisecond) and, when
// more than one and a half intervals passed since the last tick that succeeded, also at the
// times one interval apart that fill the gap, at most MaxPoints in all. A tick at or before the
// last one reads nothing.
func (s *Source) Fetch(ctx context.Context, now time.Time) ([]detector.Series, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now = time.UnixMilli(now.UnixMilli())
	if !s.last.IsZero() && !now.After(s.last) {
		return nil, nil
	}
	steps := 0
	if !s.last.IsZero() {
		// Whole intervals that fit after the last point with half an interval to spare, so a
		// late tick does not read a point right after the previous one.
		steps = int((now.Sub(s.last) - s.o.Interval/2) / s.o.Interval)
		steps = max(0, min(steps, s.o.MaxPoints-1))
	}
	var form url.Values
	endpoint := "api/v1/query"
	if steps == 0 {
		form = url.Values{"query": {s.o.Query}, "time": {formatTime(now)}}
	} else {
		endpoint = "api/v1/query_range"
		form = rangeForm(s.o.Query, now.Add(-time.Duration(steps)*s.o.Interval), now, s.o.Interval)
	}
	res, err := s.c.query(ctx, s.o.Query, endpoint, form, &s.labels, s.hint)
	if err != nil {
		return nil, err
	}
	s.last = now
	s.hint = len(res.series)
	return res.series, nil
}
