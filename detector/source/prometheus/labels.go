package prometheus

import "maps"

// interner shares the strings of label names and values that repeat across series ("__name__",
// "job", "mode", "idle"), so each is allocated once rather than once per series. It keeps at
// most maxInterned strings: the first ones seen, which in a query answer are the ones every
// series repeats; a value unique to one series (an instance, a pod) that comes after is simply
// allocated.
type interner struct {
	m map[string]string
}

const maxInterned = 1 << 14

func (in *interner) get(b []byte) string {
	if s, ok := in.m[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(in.m) < maxInterned {
		if in.m == nil {
			in.m = make(map[string]string, 64)
		}
		in.m[s] = s
	}
	return s
}

// labelCache remembers, for one query, the label map of each series it answered with, keyed by
// the bytes of the series' label object as the server sent them (Prometheus writes a series'
// labels in the same order every time). A steady tick then decodes no label and allocates no
// map: it hands out the maps of the previous tick. The maps are shared between ticks and must
// not be modified by whoever receives them.
//
// A series the last decoded answer did not contain is forgotten after that answer, so the cache
// holds the series of one answer (plus, after an answer that failed half way, those it got to).
type labelCache struct {
	// extra are labels added to every series' map, where the series does not set them.
	extra map[string]string
	m     map[string]*cachedLabels
	strs  interner
	none  map[string]string // the labels of a series without any
	// prev and cur list the series of the last answer and of this one in the order they came;
	// a series usually comes where it came last time, and is then found without a map lookup.
	prev, cur []*cachedLabels
	next      int // where in prev the next series is expected
	round     uint64
	used      int
}

type cachedLabels struct {
	key    string
	labels map[string]string
	round  uint64
	pos    int // the index in the answer it last came in
}

// begin starts the decoding of one answer.
func (c *labelCache) begin() {
	c.round++
	c.used = 0
	c.prev, c.cur = c.cur, c.prev[:0]
	c.next = 0
}

// get returns the labels last decoded from raw, or nil.
func (c *labelCache) get(raw []byte) map[string]string {
	var e *cachedLabels
	if c.next < len(c.prev) && c.prev[c.next].key == string(raw) {
		e = c.prev[c.next]
	} else if e = c.m[string(raw)]; e == nil {
		return nil
	}
	if e.round != c.round {
		e.round = c.round
		c.used++
	}
	c.next = e.pos + 1
	c.add(e)
	return e.labels
}

func (c *labelCache) put(raw []byte, labels map[string]string) {
	if c.m == nil {
		c.m = make(map[string]*cachedLabels)
	}
	e := &cachedLabels{key: string(raw), labels: labels, round: c.round}
	c.m[e.key] = e
	c.used++
	c.add(e)
}

func (c *labelCache) add(e *cachedLabels) {
	e.pos = len(c.cur)
	c.cur = append(c.cur, e)
}

// sweep forgets the series the answer just decoded did not have.
func (c *labelCache) sweep() {
	if len(c.m) == c.used {
		return
	}
	for k, e := range c.m {
		if e.round != c.round {
			delete(c.m, k)
		}
	}
}

func (c *labelCache) empty() map[string]string {
	if c.none == nil {
		c.none = maps.Clone(c.extra)
		if c.none == nil {
			c.none = map[string]string{}
		}
	}
	return c.none
}

// addExtra adds to m, a newly decoded label map, the extra labels it does not set.
func (c *labelCache) addExtra(m map[string]string) {
	for k, v := range c.extra {
		if _, ok := m[k]; !ok {
			m[k] = v
		}
	}
}
