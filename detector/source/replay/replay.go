// Package replay is the CSV source at the start of the flow: it feeds a recorded series
// (timestamp,value rows) to a check a few points per tick, so a past incident can be replayed
// through the live detector path — the bundled `--demo` and tests use it.
package replay

import (
	"context"
	"errors"
	"maps"
	"sync"
	"time"

	"github.com/smartcloudops/smartcloudops/detector"
	"github.com/smartcloudops/smartcloudops/detector/eval"
)

// Options configures a Source.
type Options struct {
	Points []detector.Point
	Labels map[string]string
	Speed  int // points per Fetch; default 1
	// FastForward, when positive, limits Speed to the first FastForward points; the rest are
	// replayed one per Fetch, so a replay can skip through a model's warm-up and then play its
	// incident at the pace of a live check.
	FastForward int
	// Rebase shifts every timestamp so the series ends at Now(), so charts show recent times.
	Rebase bool
	Now    func() time.Time
}

// Source replays points in order; after the last point it returns nothing more.
type Source struct {
	mu     sync.Mutex
	o      Options
	next   int
	offset time.Duration
}

// New returns a Source over o.Points.
func New(o Options) (*Source, error) {
	if len(o.Points) == 0 {
		return nil, errors.New("replay: no points")
	}
	if o.Speed <= 0 {
		o.Speed = 1
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Source{o: o}
	if o.Rebase {
		s.offset = o.Now().Sub(o.Points[len(o.Points)-1].T).Truncate(time.Second)
	}
	return s, nil
}

// Open reads a CSV file of timestamp,value rows.
func Open(path string, o Options) (*Source, error) {
	pts, err := eval.ReadCSVFile(path)
	if err != nil {
		return nil, err
	}
	o.Points = pts
	return New(o)
}

// Fetch implements detector.Source.
func (s *Source) Fetch(context.Context, time.Time) ([]detector.Series, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	step := s.o.Speed
	if s.o.FastForward > 0 {
		step = max(1, min(step, s.o.FastForward-s.next))
	}
	end := min(s.next+step, len(s.o.Points))
	if s.next >= end {
		return nil, nil
	}
	pts := make([]detector.Point, 0, end-s.next)
	for _, p := range s.o.Points[s.next:end] {
		pts = append(pts, detector.Point{T: p.T.Add(s.offset), V: p.V})
	}
	s.next = end
	return []detector.Series{{Labels: maps.Clone(s.o.Labels), Points: pts}}, nil
}

// Done reports whether every point has been replayed.
func (s *Source) Done() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.next >= len(s.o.Points)
}
