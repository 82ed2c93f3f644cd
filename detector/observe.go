package detector

import (
	"maps"
	"slices"

	"github.com/smartcloudops/smartcloudops/internal/obs"
)

// observedBatch is what one series' batch of points did.
type observedBatch struct {
	scored    int             // points scored
	seen      []ObservedPoint // for the rules, when the check is observed
	events    []Event
	anomalous int // points at or above the threshold
	maxScore  float64
}

// observe scores new points of one series and moves its episode along. It reports, in order, an
// Anomaly for an episode that opened and for the open episode at the end of the batch (one
// event when they are the same), and a Recovery for each episode that ended.
func (ch *check) observe(st *seriesState, pts []Point, observed bool) observedBatch {
	var r observedBatch
	life := ch.spec.lifecycle()
	var last Scored // the latest point of an open episode
	opened, haveLast := false, false
	for _, p := range pts {
		if !Valid(p.V) {
			ch.drop(st, dropNotFinite, p)
			continue
		}
		if !st.lastT.IsZero() && !p.T.After(st.lastT) {
			ch.drop(st, dropNotAfter, p) // a duplicate or out-of-order timestamp
			continue
		}
		st.lastT = p.T
		sc := st.model.Observe(p)
		st.dirty = true
		prev := st.ep
		r.maxScore = max(r.maxScore, sc.Score)
		if sc.Score >= ch.spec.Threshold {
			r.anomalous++
		}
		pt := Scored{Point: p, Score: sc.Score, Expected: sc.Expected, Lower: sc.Lower, Upper: sc.Upper}
		st.push(pt, ch.d.o.HistoryPoints, ch.spec.Threshold)
		r.scored++
		switch life.Step(&st.ep, pt, sc.Models) {
		case StepOpened:
			opened, last, haveLast = true, pt, true
		case StepContinue:
			last, haveLast = pt, true
		case StepResolved:
			if opened && haveLast {
				// The episode opened and ended inside this batch: report it before its end.
				r.events = append(r.events, Event{Anomaly: ch.anomaly(st, last, true, prev)})
			}
			r.events = append(r.events, Event{Recovery: &Recovery{Check: ch.spec.Name, Labels: maps.Clone(st.labels), T: p.T, Since: prev.Since}})
			opened, haveLast = false, false
		}
		if observed {
			r.seen = append(r.seen, st.observed(pt))
		}
	}
	if st.ep.Open() && haveLast {
		r.events = append(r.events, Event{Anomaly: ch.anomaly(st, last, opened, st.ep)})
	}
	return r
}

// anomaly describes the episode ep of series st as of point p.
func (ch *check) anomaly(st *seriesState, p Scored, opened bool, ep Episode) *Anomaly {
	return &Anomaly{
		Check: ch.spec.Name, Severity: ch.spec.Severity, Unit: ch.spec.Unit, Labels: maps.Clone(st.labels), Opened: opened,
		T: p.T, Value: p.V, Score: p.Score, Peak: ep.Peak, PeakValue: ep.PeakValue,
		Expected: ep.Expected, Lower: ep.Lower, Upper: ep.Upper, Since: ep.Since, Models: slices.Clone(ep.Models),
	}
}

// Reasons a point is not scored, as bits of seriesState.warned and values of the metric's
// reason label.
const (
	dropNotFinite uint8 = 1 << iota
	dropNotAfter
)

// drop counts a point that is not scored and logs the first of each reason for the series, so a
// source that keeps sending NaN or stale timestamps is named once rather than on every tick.
func (ch *check) drop(st *seriesState, reason uint8, p Point) {
	label, msg := "not_finite", "NaN or infinite values are not scored"
	if reason == dropNotAfter {
		label, msg = "not_after_previous", "points whose timestamp is not after the series' latest are not scored"
	}
	ch.d.m.dropped.WithLabelValues(ch.spec.Name, label).Inc()
	if st.warned&reason != 0 {
		return
	}
	st.warned |= reason
	ch.d.log.Warn(msg+"; further ones on this series are only counted in smartcloudops_detector_points_dropped_total",
		obs.KeyCheck, ch.spec.Name, "series", Key(st.labels), "t", p.T, "latest", st.lastT)
}
