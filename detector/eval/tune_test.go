package eval

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/smartcloudops/smartcloudops/detector"
	"github.com/smartcloudops/smartcloudops/detector/model"
)

// TestTuneReport replays the NAB development set with model parameters taken from the
// SMARTCLOUDOPS_TUNE_PARAMS environment variable (JSON, overlaid on model.DefaultParams) and
// prints the scores overall, per category and, with SMARTCLOUDOPS_TUNE_SERIES=1, per series, each
// detection as row:in|FP:score:parts (inside a window or a false positive, and the parts that
// fired). It is a tool for studying the models, so it runs only when SMARTCLOUDOPS_TUNE=1; the
// categories can be limited with SMARTCLOUDOPS_TUNE_CATEGORIES=a,b. SMARTCLOUDOPS_TUNE_SYNTH=1
// replays the synthetic corpus of `detect eval --synthetic` (seed 1, three copies) instead, its
// families as categories, and SMARTCLOUDOPS_TUNE_NAB=DIR replays another NAB-layout folder.
// SMARTCLOUDOPS_TUNE_MODEL=ensemble or forest replays another kind than the shipped robust one.
// It shows where a model fires; whether a change is kept is decided by `detect eval --cv`.
func TestTuneReport(t *testing.T) {
	if os.Getenv("SMARTCLOUDOPS_TUNE") != "1" {
		t.Skip("set SMARTCLOUDOPS_TUNE=1 to replay NAB with chosen parameters")
	}
	p := model.DefaultParams()
	if js := os.Getenv("SMARTCLOUDOPS_TUNE_PARAMS"); js != "" {
		if err := json.Unmarshal([]byte(js), &p); err != nil {
			t.Fatalf("SMARTCLOUDOPS_TUNE_PARAMS: %v", err)
		}
	}
	if _, err := model.NewRobust(p); err != nil {
		t.Fatal(err)
	}
	var cats []string
	if c := os.Getenv("SMARTCLOUDOPS_TUNE_CATEGORIES"); c != "" {
		cats = strings.Split(c, ",")
	}
	var c *Corpus
	if os.Getenv("SMARTCLOUDOPS_TUNE_SYNTH") == "1" {
		c, _ = SyntheticCorpus(1, 3)
		if len(cats) > 0 {
			kept := c.Series[:0]
			for _, s := range c.Series {
				if slices.Contains(cats, s.Category) {
					kept = append(kept, s)
				}
			}
			c.Series = kept
		}
	} else {
		var err error
		dir := os.Getenv("SMARTCLOUDOPS_TUNE_NAB")
		if dir == "" {
			dir = needNAB(t)
		}
		if c, err = LoadCorpus(dir, LoadOptions{Categories: cats}); err != nil {
			t.Fatal(err)
		}
	}
	mk := model.NewRobust
	switch os.Getenv("SMARTCLOUDOPS_TUNE_MODEL") {
	case model.NameEnsemble:
		mk = model.NewEnsemble
	case model.NameForest:
		mk = model.NewForest
	}
	factory := func() detector.Model {
		m, _ := mk(p)
		return m
	}
	r, err := Run(c, RunOptions{Factory: factory, Threshold: model.DefaultThreshold})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	if os.Getenv("SMARTCLOUDOPS_TUNE_SERIES") == "1" {
		for i, s := range c.Series {
			var times []string
			l, err := NewLabels(s.Key, s.Category, pointTimes(s.Points), s.Windows)
			if err != nil {
				t.Fatal(err)
			}
			sc := r.Series[i].Scores
			m := factory()
			for j, pt := range s.Points {
				v := m.Observe(pt)
				if l.class[j] != rowProbation && v.Score >= model.DefaultThreshold {
					mark := "FP"
					if l.class[j] >= 0 {
						mark = "in"
					}
					times = append(times, fmt.Sprintf("%d:%s:%.2f:%s", j, mark, v.Score, strings.Join(v.Models, "+")))
				}
			}
			var win []string
			for j := 0; j < len(sc); j++ {
				if l.class[j] >= 0 && (j == 0 || l.class[j-1] != l.class[j]) {
					k := j
					for k+1 < len(sc) && l.class[k+1] == l.class[j] {
						k++
					}
					win = append(win, fmt.Sprintf("[%d,%d]", j, k))
				}
			}
			e := EventF1([]Scored{{Labels: l, Scores: sc}}, model.DefaultThreshold)
			fmt.Fprintf(&b, "%-55s n=%5d prob=%3d TP %d FN %d FP %d windows %s detections %v\n",
				s.Key, len(sc), probationRows(len(sc)), e.TP, e.FN, e.FP, strings.Join(win, " "), times)
		}
	}
	t.Log("\n" + b.String())
}
