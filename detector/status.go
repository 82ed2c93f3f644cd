package detector

import (
	"fmt"
	"maps"
	"time"
)

// CheckStatus is what `status` and /readyz show about a check.
type CheckStatus struct {
	Name      string
	Up        bool // false while the source fails, or while ticks keep being skipped
	LastTick  time.Time
	LastError string
	Series    int
	Skipped   uint64 // ticks skipped because the previous one still ran
	Anomalous int    // series in an anomalous episode now
	// Warming is how many series are still learning before they score, and WarmupLeft the most
	// points any of them still needs; Interval is the schedule's interval, to turn points into
	// time.
	Warming    int
	WarmupLeft int
	Interval   time.Duration
}

// WarmupETA is how long until every series of the check scores: the most points any series
// still learns, at the schedule's interval.
func (s CheckStatus) WarmupETA() time.Duration { return time.Duration(s.WarmupLeft) * s.Interval }

// Learning describes the check's warm-up, such as "2 series learning, scoring in about 5m20s",
// or is empty once every series scores.
func (s CheckStatus) Learning() string {
	if s.Warming == 0 {
		return ""
	}
	what := "1 series learning"
	if s.Warming > 1 {
		what = fmt.Sprintf("%d series learning", s.Warming)
	}
	return fmt.Sprintf("%s, scoring in about %s", what, s.WarmupETA().Round(time.Second))
}

// WarmingUp is implemented by models that learn from a number of points before they score.
type WarmingUp interface {
	// WarmupLeft is how many more points the model learns before it scores; 0 once it does.
	WarmupLeft() int
}

// Status returns every check's status.
func (d *Detector) Status() []CheckStatus {
	out := make([]CheckStatus, 0, len(d.checks))
	for _, ch := range d.checks {
		ch.mu.Lock()
		st := CheckStatus{Name: ch.spec.Name, Up: ch.failures == 0, LastTick: ch.lastTick, LastError: ch.lastErr,
			Series: ch.series.len(), Skipped: ch.skipped.Load()}
		if why := ch.stuck(); why != "" {
			st.Up, st.LastError = false, why
		}
		ch.series.each(func(s *seriesState) bool {
			if s.ep.Open() {
				st.Anomalous++
			}
			return true
		})
		st.Warming, st.WarmupLeft = ch.warming()
		st.Interval = ch.interval()
		ch.mu.Unlock()
		out = append(out, st)
	}
	return out
}

// SeriesPoints returns the recent scored points of one series of a check, oldest first, and
// whether the check has that series.
func (d *Detector) SeriesPoints(check string, labels map[string]string) ([]Scored, bool) {
	for _, ch := range d.checks {
		if ch.spec.Name != check {
			continue
		}
		ch.mu.Lock()
		defer ch.mu.Unlock()
		st := ch.series.get(labels)
		if st == nil {
			return nil, false
		}
		return st.history(), true
	}
	return nil, false
}

// Latest returns the latest scored point of one series of a check, exactly as scored, and
// whether the check has that series and it has scored a point; it copies nothing else of the
// series' history.
func (d *Detector) Latest(check string, labels map[string]string) (Scored, bool) {
	for _, ch := range d.checks {
		if ch.spec.Name != check {
			continue
		}
		ch.mu.Lock()
		defer ch.mu.Unlock()
		if st := ch.series.get(labels); st != nil {
			return st.hist.latest()
		}
		return Scored{}, false
	}
	return Scored{}, false
}

// SeriesHistory is the recent scored points of one series.
type SeriesHistory struct {
	Labels map[string]string
	Points []Scored
}

// History returns the recent scored points of every series of a check.
func (d *Detector) History(name string) []SeriesHistory {
	for _, ch := range d.checks {
		if ch.spec.Name != name {
			continue
		}
		ch.mu.Lock()
		defer ch.mu.Unlock()
		out := make([]SeriesHistory, 0, ch.series.len())
		ch.series.each(func(s *seriesState) bool {
			out = append(out, SeriesHistory{Labels: maps.Clone(s.labels), Points: s.history()})
			return true
		})
		return out
	}
	return nil
}

// warming counts the series still learning before they score and the most points any still
// needs. ch.mu must be held.
func (ch *check) warming() (n, left int) {
	ch.series.each(func(s *seriesState) bool {
		if w, ok := s.model.(WarmingUp); ok {
			if l := w.WarmupLeft(); l > 0 {
				n++
				left = max(left, l)
			}
		}
		return true
	})
	return n, left
}
