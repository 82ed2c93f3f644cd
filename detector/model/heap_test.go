package model

import (
	"runtime"
	"testing"

	"github.com/smartcloudops/smartcloudops/detector"
)

// robustHeapBudget bounds the heap one robust model takes, new or restored from its state: the
// model every series of a default check keeps. It is allocated in the runtime's 3,072-byte size
// class; the budget leaves one class of slack for the measurement. It was 5,376 bytes while the
// robust model also carried the forest's unused 2 KB of trees and sample.
const robustHeapBudget = 3_200

// TestRobustModelHeap: a robust model, fresh or loaded from saved state, takes at most
// robustHeapBudget bytes of heap.
func TestRobustModelHeap(t *testing.T) {
	trained := Default()()
	Train(trained, synth(600, -1, 6))
	state, err := trained.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	for name, build := range map[string]func() detector.Model{
		"new": Default(),
		"loaded": func() detector.Model {
			m, err := Load(state)
			if err != nil {
				t.Fatal(err)
			}
			return m
		},
	} {
		const n = 2000
		models := make([]detector.Model, 0, n)
		before := heapInUse()
		for range n {
			models = append(models, build())
		}
		per := (float64(heapInUse()) - float64(before)) / n
		runtime.KeepAlive(models)
		t.Logf("%s: %.0f bytes of heap a model", name, per)
		if per > robustHeapBudget {
			t.Errorf("%s: a robust model takes %.0f bytes of heap, over the budget of %d", name, per, robustHeapBudget)
		}
	}
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}
