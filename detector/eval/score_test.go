package eval

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// nabDir is the shared NAB development set, beside the repository clone.
const nabDir = "../../../shared/data/nab"

func needNAB(t testing.TB) string {
	t.Helper()
	if _, err := os.Stat(filepath.Join(nabDir, "labels", "combined_windows.json")); err != nil {
		t.Skipf("NAB data not found at %s (expected shared/ beside the clone): %v", nabDir, err)
	}
	return nabDir
}

// loadReference scores the published per-row outputs of a NAB detector.
func loadReference(t *testing.T, c *Corpus, detector string) []Scored {
	t.Helper()
	var set []Scored
	for _, s := range c.Series {
		file := filepath.Base(s.Key)
		path := filepath.Join(nabDir, "reference", detector, s.Category, detector+"_"+file)
		pts, err := ReadCSVFile(path)
		if err != nil {
			t.Fatal(err)
		}
		times := make([]time.Time, len(s.Points))
		for i, p := range s.Points {
			times[i] = p.T
		}
		l, err := NewLabels(s.Key, s.Category, times, s.Windows)
		if err != nil {
			t.Fatal(err)
		}
		scores := make([]float64, len(pts))
		for i, p := range pts {
			scores[i] = p.V
		}
		sc, err := l.Attach(scores)
		if err != nil {
			t.Fatal(err)
		}
		set = append(set, sc)
	}
	return set
}

func TestReferenceScores(t *testing.T) {
	dir := needNAB(t)
	c, err := LoadCorpus(dir, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		detector               string
		threshold              float64
		standard, lowFP, lowFN float64
		tp, fn, fpRuns         int
		f1                     float64
	}{
		{"ARTime", 0.317486, 74.509, 66.402, 79.360, 57, 7, 99, 0.518},
		{"numenta", 0.542188, 75.519, 70.682, 78.992, 55, 9, 59, 0.618},
	}
	for _, tc := range tests {
		t.Run(tc.detector, func(t *testing.T) {
			set := loadReference(t, c, tc.detector)
			want := map[string]float64{"standard": tc.standard, "reward_low_FP_rate": tc.lowFP, "reward_low_FN_rate": tc.lowFN}
			for _, p := range c.Profiles {
				got := Score(set, p, tc.threshold)
				if math.Abs(got.Score-want[p.Name]) > 0.0005 {
					t.Errorf("%s %s: score %.4f, want %.3f", tc.detector, p.Name, got.Score, want[p.Name])
				}
			}
			e := EventF1(set, tc.threshold)
			if e.TP != tc.tp || e.FN != tc.fn || e.FP != tc.fpRuns || math.Abs(e.F1-tc.f1) > 0.0005 {
				t.Errorf("%s events: %+v, want TP %d FN %d FP runs %d F1 %.3f", tc.detector, e, tc.tp, tc.fn, tc.fpRuns, tc.f1)
			}
			// The swept threshold can only match or beat the published one.
			for _, p := range c.Profiles {
				sw, fixed := Sweep(set, p), Score(set, p, tc.threshold)
				if sw.Score+1e-9 < fixed.Score {
					t.Errorf("%s %s: swept score %.4f below the score %.4f at the published threshold", tc.detector, p.Name, sw.Score, fixed.Score)
				}
			}
		})
	}
}

func TestLabelsSmall(t *testing.T) {
	base := time.Date(2014, 1, 1, 0, 0, 0, 0, time.UTC)
	times := make([]time.Time, 100)
	for i := range times {
		times[i] = base.Add(time.Duration(i) * time.Minute)
	}
	w := []Window{{Start: times[40], End: times[49]}}
	l, err := NewLabels("a/b.csv", "a", times, w)
	if err != nil {
		t.Fatal(err)
	}
	if l.Windows() != 1 || !l.InWindow(40) || l.InWindow(50) {
		t.Fatalf("windows %d, in(40) %v, in(50) %v", l.Windows(), l.InWindow(40), l.InWindow(50))
	}
	p := StandardProfiles()[0]
	tests := []struct {
		name   string
		detect []int
		want   float64 // normalised standard score
		f1     float64
	}{
		{"nothing", nil, 0, 0},
		{"window start", []int{40}, 100 * (1 + 1) / 2 * (scaledSigmoid(-1) / scaledSigmoid(-1)), 1},
		{"probation only", []int{5}, 0, 0},
		{"fp before window", []int{20}, 100*(-1-0.11)/2 + 50, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			scores := make([]float64, len(times))
			for _, i := range tc.detect {
				scores[i] = 1
			}
			s, err := l.Attach(scores)
			if err != nil {
				t.Fatal(err)
			}
			got := Score([]Scored{s}, p, 0.5)
			if math.Abs(got.Score-tc.want) > 1e-9 {
				t.Errorf("score %v, want %v", got.Score, tc.want)
			}
			if e := EventF1([]Scored{s}, 0.5); math.Abs(e.F1-tc.f1) > 1e-9 {
				t.Errorf("f1 %v, want %v", e.F1, tc.f1)
			}
		})
	}
	if _, err := NewLabels("a/b.csv", "a", times, []Window{{Start: base.Add(-time.Hour), End: times[3]}}); err == nil || !strings.Contains(err.Error(), "a/b.csv") {
		t.Errorf("window off the series: err %v, want one naming the file", err)
	}
	if _, err := l.Attach(make([]float64, 3)); err == nil {
		t.Error("Attach accepted the wrong number of scores")
	}
}
