package detector

import "time"

// historyLen is how many scored points each series keeps for charts and rule windows.
const historyLen = 240

// seriesState is what a check keeps per series between ticks.
type seriesState struct {
	labels map[string]string
	model  Model
	hist   []Scored // ring buffer
	next   int
	full   bool
	ep     Episode // the anomalous episode it is in, if any
	lastT  time.Time
	seenAt time.Time // when a tick last scored a point of it, or it was created or restored
	dirty  bool      // model changed since the last save
	warned uint8     // reasons for dropping points already logged for this series
}

func (s *seriesState) push(p Scored) {
	if len(s.hist) < historyLen {
		s.hist = append(s.hist, p)
		return
	}
	s.hist[s.next] = p
	s.next = (s.next + 1) % historyLen
	s.full = true
}

// history returns the kept points oldest first.
func (s *seriesState) history() []Scored {
	if !s.full {
		return append([]Scored(nil), s.hist...)
	}
	out := make([]Scored, 0, historyLen)
	out = append(out, s.hist[s.next:]...)
	return append(out, s.hist[:s.next]...)
}

// observed describes point p of the series with its episode as it stands now.
func (s *seriesState) observed(p Scored) ObservedPoint {
	o := ObservedPoint{Scored: p, Band: Band{p.Expected, p.Lower, p.Upper}}
	if s.ep.Open() {
		o.Open, o.Since, o.Peak = true, s.ep.Since, s.ep.Peak
		o.Band = Band{s.ep.Expected, s.ep.Lower, s.ep.Upper}
	}
	return o
}
