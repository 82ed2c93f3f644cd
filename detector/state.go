package detector

import (
	"hash/maphash"
	"maps"
	"time"
)

// seriesState is what a check keeps per series between ticks.
type seriesState struct {
	labels map[string]string // the series' labels with the check's; never changed once set
	model  Model
	hist   ring
	ep     Episode // the anomalous episode it is in, if any
	lastT  time.Time
	// seenAt is when a tick last scored a point of it, or it was created or restored (Options.Now,
	// Unix nanoseconds).
	seenAt int64
	// savedAt is when its state was last written (Options.Now, Unix nanoseconds): 0 for a new
	// series, and for a restored one a time spread over the save interval before the restore
	// (savePhase).
	savedAt int64
	dirty   bool  // model changed since the last save
	urgent  bool  // the episode opened or ended since the last save: saved before the tick reports
	warned  uint8 // reasons for dropping points already logged for this series
	gone    bool  // forgotten: a save in flight must not write it back
	// local: its model is kept in memory only (Options.StoredModels); only its episode is
	// stored, when it opens or ends.
	local bool
	// restored: its labels were decoded from the store, a map of its own; the first tick that
	// scores it takes its source's map instead, so a restart does not keep two of each.
	restored bool
	hash     uint64
	next     *seriesState // the next series of the same hash in its check's index
}

// push keeps p in the series' history; threshold is its check's.
func (s *seriesState) push(p Scored, size int, threshold float64) { s.hist.push(p, size, threshold) }

// history returns the kept points oldest first.
func (s *seriesState) history() []Scored { return s.hist.points() }

// observed describes point p of the series with its episode as it stands now.
func (s *seriesState) observed(p Scored) ObservedPoint {
	o := ObservedPoint{Scored: p, Band: Band{p.Expected, p.Lower, p.Upper}}
	if s.ep.Open() {
		o.Open, o.Since, o.Peak = true, s.ep.Since, s.ep.Peak
		o.Band = Band{s.ep.Expected, s.ep.Lower, s.ep.Upper}
	}
	return o
}

// seriesIndex finds a check's series by label set. It is keyed by a hash of the labels that
// does not depend on their order, so a tick finds a known series from the labels its source
// returned, merged with the check's, without building the merged set: no allocation for a
// series it already has. Series whose labels share a hash are chained.
type seriesIndex struct {
	seed maphash.Seed
	m    map[uint64]*seriesState
	n    int
}

func newSeriesIndex() *seriesIndex {
	return &seriesIndex{seed: maphash.MakeSeed(), m: map[uint64]*seriesState{}}
}

// pairHash hashes one label; label set hashes are sums of these, so the order does not count.
func (x *seriesIndex) pairHash(k, v string) uint64 {
	h := maphash.String(x.seed, k)*0x9e3779b97f4a7c15 ^ maphash.String(x.seed, v)
	// splitmix64's finaliser, so that sums of pair hashes keep their bits independent.
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	return h ^ h>>31
}

// hash is the hash of a label set.
func (x *seriesIndex) hash(labels map[string]string) uint64 {
	var h uint64
	for k, v := range labels {
		h += x.pairHash(k, v)
	}
	return h
}

// mergedHash is the hash of own's labels with those of check that own does not set.
func (x *seriesIndex) mergedHash(check, own map[string]string) uint64 {
	h := x.hash(own)
	for k, v := range check {
		if _, ok := own[k]; !ok {
			h += x.pairHash(k, v)
		}
	}
	return h
}

// find returns the series whose labels are own's with those of check that own does not set.
func (x *seriesIndex) find(check, own map[string]string) (*seriesState, uint64) {
	h := x.mergedHash(check, own)
	for st := x.m[h]; st != nil; st = st.next {
		if isMerged(st.labels, check, own) {
			return st, h
		}
	}
	return nil, h
}

// get returns the series with exactly these labels.
func (x *seriesIndex) get(labels map[string]string) *seriesState {
	for st := x.m[x.hash(labels)]; st != nil; st = st.next {
		if maps.Equal(st.labels, labels) {
			return st
		}
	}
	return nil
}

// add adds st under hash h (the hash of st.labels), replacing a series of the same labels.
func (x *seriesIndex) add(st *seriesState, h uint64) {
	if old := x.get(st.labels); old != nil {
		x.remove(old)
	}
	st.hash, st.next = h, x.m[h]
	x.m[h] = st
	x.n++
}

// remove takes st out of the index.
func (x *seriesIndex) remove(st *seriesState) {
	if head := x.m[st.hash]; head == st {
		if st.next == nil {
			delete(x.m, st.hash)
		} else {
			x.m[st.hash] = st.next
		}
	} else {
		p := head
		for p != nil && p.next != st {
			p = p.next
		}
		if p == nil {
			return // not in the index
		}
		p.next = st.next
	}
	st.next = nil
	x.n--
}

// each calls f for every series until it returns false. f may remove the series it is given.
func (x *seriesIndex) each(f func(*seriesState) bool) {
	for _, head := range x.m {
		for st := head; st != nil; {
			next := st.next
			if !f(st) {
				return
			}
			st = next
		}
	}
}

func (x *seriesIndex) len() int { return x.n }

// isMerged reports whether merged is own's labels with those of check that own does not set.
func isMerged(merged, check, own map[string]string) bool {
	n := len(own)
	for k, v := range own {
		if mv, ok := merged[k]; !ok || mv != v {
			return false
		}
	}
	for k, v := range check {
		if _, ok := own[k]; ok {
			continue
		}
		n++
		if mv, ok := merged[k]; !ok || mv != v {
			return false
		}
	}
	return n == len(merged)
}

// mergeLabels is own's labels with those of check that own does not set: a series label of the
// same name as a check's wins, so two series never merge into one. When own already sets every
// label of check, it is own itself, not a copy: a Source does not modify a map it returned
// (Series.Labels), so the series keeps the one label set its source holds for it.
func mergeLabels(check, own map[string]string) map[string]string {
	if own != nil && hasAll(own, check) {
		return own
	}
	out := make(map[string]string, len(check)+len(own))
	maps.Copy(out, check)
	maps.Copy(out, own)
	return out
}

// hasAll reports whether m sets every label name of check.
func hasAll(m, check map[string]string) bool {
	for k := range check {
		if _, ok := m[k]; !ok {
			return false
		}
	}
	return true
}
