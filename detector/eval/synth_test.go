package eval

import (
	"slices"
	"strings"
	"testing"

	"github.com/smartcloudops/smartcloudops/detector/model"
)

// TestSyntheticCorpus checks the generated corpus: the same seed gives the same series, every
// family has a clean copy and its anomalies, and each window starts at the onset and lies
// inside its series.
func TestSyntheticCorpus(t *testing.T) {
	a, inj := SyntheticCorpus(7, 2)
	b, _ := SyntheticCorpus(7, 2)
	c, _ := SyntheticCorpus(8, 2)
	if len(a.Series) != len(inj) || len(a.Series) != len(b.Series) {
		t.Fatalf("%d series, %d injections, %d on the second run", len(a.Series), len(inj), len(b.Series))
	}
	if !slices.EqualFunc(a.Series, b.Series, func(x, y Series) bool { return slices.Equal(x.Points, y.Points) }) {
		t.Error("the same seed generated different series")
	}
	if slices.Equal(a.Series[1].Points, c.Series[1].Points) {
		t.Error("another seed generated the same series")
	}
	kinds := map[string]int{}
	cleanOf := map[string]Series{}
	for i, in := range inj {
		if in.Kind == "clean" {
			cleanOf[strings.Replace(in.Key, "/clean-", "/", 1)] = a.Series[i]
		}
	}
	for i, in := range inj {
		s := a.Series[i]
		kinds[in.Kind]++
		if in.Kind == "clean" {
			if len(s.Windows) != 0 || in.Onset != -1 {
				t.Errorf("%s: clean series has a window", s.Key)
			}
			continue
		}
		if len(s.Windows) != 1 || !s.Windows[0].Start.Equal(s.Points[in.Onset].T) ||
			in.End >= len(s.Points) || !s.Windows[0].End.Equal(s.Points[in.End].T) {
			t.Errorf("%s: window %v does not run from row %d to row %d", s.Key, s.Windows, in.Onset, in.End)
		}
		clean := cleanOf[strings.Replace(in.Key, "/"+in.Kind+"-", "/", 1)]
		if clean.Points[in.Onset] == s.Points[in.Onset] && in.Kind != "flatline" && in.Kind != "ramp" && in.Kind != "rampback" {
			t.Errorf("%s: row %d equals the clean series'", s.Key, in.Onset)
		}
		earlier := in.Kind == "rampback" || in.Kind == "second" || in.Kind == "burst"
		if slices.Equal(clean.Points[:in.Onset], s.Points[:in.Onset]) == earlier {
			t.Errorf("%s: before the onset, differs from %s: %v, want %v", s.Key, clean.Key, !earlier, earlier)
		}
	}
	families := len(synthFamilies())
	if kinds["clean"] != 2*families || kinds["spike"] != 2*families || kinds["cycle"] == 0 || kinds["cycle"] >= 2*families {
		t.Errorf("series per kind %v", kinds)
	}
}

// TestSyntheticGeneralisation holds the shipped model to what it achieves on shapes it was not
// tuned on: a regression here means a change fitted NAB's development set at the expense of
// ordinary metrics. The corpus is seeded, so the figures are exact, not noisy.
func TestSyntheticGeneralisation(t *testing.T) {
	r, err := RunSynthetic(1, 3, RunOptions{Factory: model.Default(), Threshold: model.DefaultThreshold})
	if err != nil {
		t.Fatal(err)
	}
	// The least number of the 27 injections of each kind (15 for cycle, which applies to
	// periodic families only) that must be detected inside their window.
	// Detections that were chance alarms inside long windows (a flatline alarm on noise during a
	// rampback's 1,000 rows) do not count toward these.
	least := map[string]int{"spike": 26, "drop": 27, "shift": 27, "ramp": 21, "variance": 23, "flatline": 27, "cycle": 8,
		"pattern": 16, "rampback": 20, "second": 18, "burst": 27}
	// The most runs of alarms after the window: mostly the clean copies' own chance records,
	// which recur in every copy that shares their rows, and for a flatline the few returns that
	// still alert (a step back onto a disk that kept filling).
	most := map[string]int{"spike": 3, "drop": 3, "shift": 0, "ramp": 0, "variance": 0, "flatline": 10, "cycle": 8,
		"pattern": 4, "rampback": 0, "second": 2, "burst": 1}
	for _, k := range r.Synthetic.Kinds {
		if k.Detected < least[k.Kind] {
			t.Errorf("%s: %d of %d detected, want at least %d", k.Kind, k.Detected, k.Series, least[k.Kind])
		}
		if k.LaterRuns > most[k.Kind] {
			t.Errorf("%s: %d runs of alarms after the window, want at most %d", k.Kind, k.LaterRuns, most[k.Kind])
		}
	}
	// False alarms on the clean copies: 10,000 scored rows of heavy-tailed jitter draw records
	// the model reports; the other families together stay near one false run per 10,000 rows
	// (82,272 rows). The shape part added one here, on the wandering temperature, and two in
	// the 411,360 rows of seeds 1 to 5 (45 to 47), while it caught 54 more injections there.
	total, heavy := 0, 0
	for _, f := range r.Synthetic.Families {
		if f.Family == "heavytail" {
			heavy = f.FalseRuns
			continue
		}
		total += f.FalseRuns
		if f.FalseRuns > 3 {
			t.Errorf("%s: %d false runs on %d clean rows, want at most 3", f.Family, f.FalseRuns, f.Rows)
		}
	}
	if total > 9 || heavy > 9 {
		t.Errorf("%d false runs on clean series of the ordinary families (want at most 9), %d on heavy-tailed jitter (want at most 9)", total, heavy)
	}
}
