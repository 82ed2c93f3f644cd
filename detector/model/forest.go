package model

import "math"

const (
	maxTrees   = 12
	treeDepth  = 4                    // internal levels; leaves sit at depth treeDepth
	treeNodes  = 1<<(treeDepth+1) - 1 // complete binary tree in heap order
	treeSample = 16                   // points per tree
	features   = 4
	ringSize   = 64
	quantum    = 1000.0 // features are stored as int16 thousandths, clipped to ±30
	leafMark   = 255
)

// node is one isolation-tree node in heap order. Internal nodes split feature f at value v; a
// leaf has f == leafMark and holds in v the number of sample points that reached it.
type node struct {
	f uint8
	v int16
}

// forest is an isolation forest over quantised feature vectors. It is refitted from ring, a
// decimated sample of recent history, so the trees never see the point being scored. Fitting is
// deterministic given the ring and the point count, which keeps saved state small: only the trees
// and the ring are stored.
type forest struct {
	fitted bool
	ringN  uint16 // vectors in ring (≤ ringSize)
	ringAt uint16 // next slot to overwrite
	ring   [ringSize][features]int16
	trees  [maxTrees][treeNodes]node
}

func quantise(v float64) int16 {
	return int16(math.Round(clip(v, 30) * quantum))
}

// avgPath is c(n), the average path length of an unsuccessful search in a binary search tree
// of n points, which normalises isolation depths.
func avgPath(n int) float64 {
	if n <= 1 {
		return 0
	}
	if n == 2 {
		return 1
	}
	h := math.Log(float64(n-1)) + 0.5772156649
	return 2*h - 2*float64(n-1)/float64(n)
}

// score returns the isolation score of x in (0,1]; about 0.5 or below is ordinary.
func (f *forest) score(x *[features]int16, trees int) float64 {
	if !f.fitted {
		return 0
	}
	var total float64
	for t := 0; t < trees; t++ {
		tr := &f.trees[t]
		i, depth := 0, 0
		for tr[i].f != leafMark {
			if x[tr[i].f] < tr[i].v {
				i = 2*i + 1
			} else {
				i = 2*i + 2
			}
			depth++
		}
		total += float64(depth) + avgPath(int(tr[i].v))
	}
	return math.Pow(2, -total/float64(trees)/avgPath(treeSample))
}

// add records a feature vector in the history sample.
func (f *forest) add(x *[features]int16) {
	f.ring[f.ringAt] = *x
	f.ringAt = (f.ringAt + 1) % ringSize
	if f.ringN < ringSize {
		f.ringN++
	}
}

// rng is a xorshift64* generator; fitting uses a fresh one seeded from the point count.
type rng uint64

func (r *rng) next() uint64 {
	x := uint64(*r)
	x ^= x >> 12
	x ^= x << 25
	x ^= x >> 27
	*r = rng(x)
	return x * 2685821657736338717
}

func (r *rng) intn(n int) int { return int(r.next() % uint64(n)) }

// fit rebuilds the trees from the ring with a generator seeded by seed.
func (f *forest) fit(trees int, seed uint64) {
	if f.ringN < treeSample {
		return
	}
	r := rng(seed*0x9E3779B97F4A7C15 | 1)
	idx := make([]int, f.ringN)
	for t := 0; t < trees; t++ {
		for i := range idx {
			idx[i] = i
		}
		for i := 0; i < treeSample; i++ {
			j := i + r.intn(len(idx)-i)
			idx[i], idx[j] = idx[j], idx[i]
		}
		f.build(&f.trees[t], 0, 0, idx[:treeSample], &r)
	}
	f.fitted = true
}

func (f *forest) build(tr *[treeNodes]node, at, depth int, pts []int, r *rng) {
	leaf := func() { tr[at] = node{f: leafMark, v: int16(len(pts))} }
	if depth == treeDepth || len(pts) <= 1 {
		leaf()
		return
	}
	// Try a few random features for one that still varies among pts.
	for try := 0; try < 2*features; try++ {
		ft := r.intn(features)
		lo, hi := f.ring[pts[0]][ft], f.ring[pts[0]][ft]
		for _, p := range pts[1:] {
			v := f.ring[p][ft]
			lo, hi = min(lo, v), max(hi, v)
		}
		if lo == hi {
			continue
		}
		split := lo + 1 + int16(r.intn(int(hi)-int(lo)))
		// Partition pts in place: values below split first.
		k := 0
		for i, p := range pts {
			if f.ring[p][ft] < split {
				pts[k], pts[i] = pts[i], pts[k]
				k++
			}
		}
		tr[at] = node{f: uint8(ft), v: split}
		f.build(tr, 2*at+1, depth+1, pts[:k], r)
		f.build(tr, 2*at+2, depth+1, pts[k:], r)
		return
	}
	leaf()
}
