package detector

import (
	"maps"
	"testing"
)

// TestSeriesIndexFindsMergedLabels: a series is found from its source's labels and the check's,
// whatever their order, with a series label winning over the check's of the same name.
func TestSeriesIndexFindsMergedLabels(t *testing.T) {
	x := newSeriesIndex()
	check := map[string]string{"asg": "web-asg", "env": "prod"}
	own := map[string]string{"instance": "a", "asg": "batch-asg"}
	st, h := x.find(check, own)
	if st != nil {
		t.Fatal("found a series in an empty index")
	}
	merged := mergeLabels(check, own)
	if want := map[string]string{"asg": "batch-asg", "env": "prod", "instance": "a"}; !maps.Equal(merged, want) {
		t.Fatalf("merged labels %v, want %v", merged, want)
	}
	if h != x.hash(merged) {
		t.Fatal("the hash of the merged labels differs from the hash of the labels merged")
	}
	a := &seriesState{labels: merged}
	x.add(a, h)
	if got, _ := x.find(check, map[string]string{"asg": "batch-asg", "instance": "a"}); got != a {
		t.Fatal("the same labels did not find their series")
	}
	if got := x.get(map[string]string{"instance": "a", "env": "prod", "asg": "batch-asg"}); got != a {
		t.Fatal("get did not find the series by its full labels")
	}
	for _, other := range []map[string]string{
		{"instance": "a"}, // the check's asg then applies: another series
		{"instance": "a", "asg": "batch-asg", "env": "dev"},
		{"instance": "a", "asg": "batch-asg", "zone": "x"},
	} {
		if got, _ := x.find(check, other); got != nil {
			t.Errorf("labels %v found the series %v", other, got.labels)
		}
	}
	if x.len() != 1 {
		t.Fatalf("len %d", x.len())
	}
}

// TestSeriesIndexChainsEqualHashes: series whose hashes are equal are kept side by side, each
// found and removed on its own.
func TestSeriesIndexChainsEqualHashes(t *testing.T) {
	x := newSeriesIndex()
	var sts []*seriesState
	for _, host := range []string{"a", "b", "c"} {
		st := &seriesState{labels: map[string]string{"host": host}}
		x.add(st, 42) // as if every label set hashed to 42
		sts = append(sts, st)
	}
	find := func(host string) *seriesState {
		for st := x.m[42]; st != nil; st = st.next {
			if st.labels["host"] == host {
				return st
			}
		}
		return nil
	}
	for i, host := range []string{"a", "b", "c"} {
		if find(host) != sts[i] {
			t.Fatalf("series %s not in the chain", host)
		}
	}
	x.remove(sts[1]) // the middle of the chain
	x.remove(sts[2]) // its head
	if find("b") != nil || find("c") != nil || find("a") != sts[0] || x.len() != 1 {
		t.Fatalf("after removing b and c: a %v, b %v, c %v, len %d", find("a"), find("b"), find("c"), x.len())
	}
	x.remove(sts[1]) // not in the index any more
	if x.len() != 1 {
		t.Fatalf("removing a series twice counted twice: len %d", x.len())
	}
	n := 0
	x.each(func(st *seriesState) bool {
		x.remove(st)
		n++
		return true
	})
	if n != 1 || x.len() != 0 || len(x.m) != 0 {
		t.Fatalf("each removed %d, left len %d, %d hashes", n, x.len(), len(x.m))
	}
}

// TestMergeLabelsKeepsOwn: when a series' own labels already set every label of the check, the
// series keeps its source's map itself rather than a copy (one label map per series); otherwise
// it gets a merged copy and own is left as it was.
func TestMergeLabelsKeepsOwn(t *testing.T) {
	check := map[string]string{"env": "prod"}
	own := map[string]string{"instance": "a", "env": "dev"}
	if got := mergeLabels(check, own); !sameMap(got, own) {
		t.Fatalf("merged %v is a copy of %v, want the map itself", got, own)
	}
	if got := mergeLabels(nil, own); !sameMap(got, own) {
		t.Fatal("with no check labels the merged map is a copy")
	}
	bare := map[string]string{"instance": "a"}
	got := mergeLabels(check, bare)
	if sameMap(got, bare) || len(bare) != 1 || !maps.Equal(got, map[string]string{"instance": "a", "env": "prod"}) {
		t.Fatalf("merged %v from %v: want a new map with the check's env", got, bare)
	}
	if got := mergeLabels(nil, nil); got == nil {
		t.Fatal("a series without labels got a nil map")
	}
}

// sameMap reports whether a and b are the same map, not merely equal ones.
func sameMap(a, b map[string]string) bool {
	a["\x00probe"] = "x"
	defer delete(a, "\x00probe")
	return b["\x00probe"] == "x"
}
