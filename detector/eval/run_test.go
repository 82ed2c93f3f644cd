package eval

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/smartcloudops/smartcloudops/detector/model"
)

func TestRunNAB(t *testing.T) {
	c, err := LoadCorpus(needNAB(t), LoadOptions{Categories: []string{"realAdExchange"}})
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	r, err := Run(c, RunOptions{Factory: model.Default(), Threshold: model.DefaultThreshold, OutDir: out})
	if err != nil {
		t.Fatal(err)
	}
	if r.Points != 9610 || len(r.Categories) != 1 || r.Categories[0].Windows != 14 {
		t.Fatalf("points %d, categories %+v", r.Points, r.Categories)
	}
	b, err := os.ReadFile(filepath.Join(out, "realAdExchange", "smartcloudops_exchange-2_cpc_results.csv"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if lines[0] != "timestamp,value,anomaly_score,label" || len(lines) != 1625 {
		t.Errorf("result file: header %q, %d lines", lines[0], len(lines))
	}
	// Written scores read back score the same as the in-memory ones, at any threshold.
	var back []Scored
	for i, s := range c.Series {
		pts, err := ReadCSVFile(filepath.Join(out, s.Category, "smartcloudops_"+filepath.Base(s.Key)))
		if err != nil {
			t.Fatal(err)
		}
		// The value column is read first; the scores are the third column.
		f, err := os.ReadFile(filepath.Join(out, s.Category, "smartcloudops_"+filepath.Base(s.Key)))
		if err != nil {
			t.Fatal(err)
		}
		rows := strings.Split(strings.TrimSpace(string(f)), "\n")[1:]
		scores := make([]float64, len(rows))
		for j, row := range rows {
			if scores[j], err = strconv.ParseFloat(strings.Split(row, ",")[2], 64); err != nil {
				t.Fatal(err)
			}
			if scores[j] != r.Series[i].Scores[j] {
				t.Fatalf("%s row %d: written %v, scored %v", s.Key, j, scores[j], r.Series[i].Scores[j])
			}
		}
		l, err := NewLabels(s.Key, s.Category, pointTimes(pts), s.Windows)
		if err != nil {
			t.Fatal(err)
		}
		sc, err := l.Attach(scores)
		if err != nil {
			t.Fatal(err)
		}
		back = append(back, sc)
	}
	for _, thr := range []float64{0.3, 0.5, 0.7} {
		r2 := buildReport(back, c.Profiles, thr)
		r1, err := Run(c, RunOptions{Factory: model.Default(), Threshold: thr})
		if err != nil {
			t.Fatal(err)
		}
		for k := range r1.Profiles {
			if a, b := r1.Profiles[k].Fixed, r2.Profiles[k].Fixed; a != b {
				t.Errorf("threshold %v %s: report %+v, files %+v", thr, a.Profile, a, b)
			}
		}
		if r1.Events != r2.Events {
			t.Errorf("threshold %v: events %+v, from the files %+v", thr, r1.Events, r2.Events)
		}
	}
	var text, md, js bytes.Buffer
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteMarkdown(&md, MarkdownInfo{Command: "x"}); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{text.String(), md.String(), js.String()} {
		if !strings.Contains(s, "reward_low_FN_rate") {
			t.Errorf("report lacks a profile:\n%s", s)
		}
	}
	if _, err := LoadCorpus(needNAB(t), LoadOptions{Categories: []string{"nope"}}); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("unknown category: %v", err)
	}
	if _, err := Run(c, RunOptions{}); err == nil {
		t.Error("Run without a Factory succeeded")
	}
}

// TestNoPileBelowThresholds checks that the scores of the development set do not crowd just below
// any threshold a check might use: the score means the same whatever the threshold. A score held
// over several points (the shape part judges a window once per segment and holds its score until
// the next) is one judgement, so a run of equal scores counts once.
func TestNoPileBelowThresholds(t *testing.T) {
	c, err := LoadCorpus(needNAB(t), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := Run(c, RunOptions{Factory: model.Default(), Threshold: model.DefaultThreshold})
	if err != nil {
		t.Fatal(err)
	}
	for _, thr := range []float64{0.3, 0.4, 0.5, 0.6, 0.7} {
		below, above := 0, 0
		for _, s := range r.Series {
			for i, v := range s.Scores {
				if i > 0 && v == s.Scores[i-1] {
					continue
				}
				switch {
				case v >= thr-0.01 && v < thr:
					below++
				case v >= thr && v < thr+0.01:
					above++
				}
			}
		}
		if below > 2*above+10 {
			t.Errorf("threshold %v: %d scores in the hundredth below it, %d in the hundredth above", thr, below, above)
		}
	}
}

func TestReadCSV(t *testing.T) {
	tests := []struct {
		name, in string
		n        int
		errPart  string
	}{
		{"nab", "timestamp,value\n2014-04-01 00:00:00,1.5\n2014-04-01 00:05:00,NaN\n", 2, ""},
		{"reference", "timestamp,anomaly_score\n2014-04-01 00:00:00.000000,0.5\n", 1, ""},
		{"rfc3339 and extra", "value,timestamp,label\n3,2014-04-01T00:00:00Z,0\n", 1, ""},
		{"empty", "", 0, "empty file"},
		{"no rows", "timestamp,value\n", 0, "no data rows"},
		{"no timestamp", "a,b\n1,2\n", 0, "no timestamp column"},
		{"bad value", "timestamp,value\n2014-04-01 00:00:00,x\n", 0, "line 2"},
		{"bad time", "timestamp,value\nyesterday,1\n", 0, "line 2"},
		{"short row", "timestamp,value\n2014-04-01 00:00:00\n", 0, "line 2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pts, err := ReadCSV(strings.NewReader(tc.in), "f.csv")
			if tc.errPart != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errPart) || !strings.Contains(err.Error(), "f.csv") {
					t.Fatalf("err %v, want one naming f.csv and %q", err, tc.errPart)
				}
				return
			}
			if err != nil || len(pts) != tc.n {
				t.Fatalf("%d points, err %v; want %d", len(pts), err, tc.n)
			}
		})
	}
}

func FuzzReadCSV(f *testing.F) {
	f.Add("timestamp,value\n2014-04-01 00:00:00,1.5\n2014-04-01 00:05:00,2\n")
	f.Add("timestamp,anomaly_score\n2014-04-01 00:00:00.000000,0.5\n")
	f.Add("value,timestamp\n1,1700000000\n")
	f.Add("\"timestamp\",\"value\"\n\"2014-04-01\",\"inf\"\n")
	f.Fuzz(func(t *testing.T, in string) {
		pts, err := ReadCSV(strings.NewReader(in), "fuzz.csv")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "read fuzz.csv") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		if len(pts) == 0 {
			t.Fatal("no error and no points")
		}
	})
}

// BenchmarkNAB replays the whole development set, training included, on one goroutine.
func BenchmarkNAB(b *testing.B) {
	c, err := LoadCorpus(needNAB(b), LoadOptions{})
	if err != nil {
		b.Fatal(err)
	}
	points := 0
	for _, s := range c.Series {
		points += len(s.Points)
	}
	f := model.Default()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, s := range c.Series {
			m := f()
			for _, p := range s.Points {
				m.Observe(p)
			}
		}
	}
	b.ReportMetric(float64(points*b.N)/b.Elapsed().Seconds(), "points/s")
}

// TestIndependentScorer scores the per-row files with testdata/nabscore.py, a NAB scorer written
// separately from the rules of the development set's README, at 0.3, 0.5 and 0.7: it must agree
// with the report. It needs python3 and skips without it.
func TestIndependentScorer(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found")
	}
	c, err := LoadCorpus(needNAB(t), LoadOptions{Categories: []string{"realAdExchange", "artificialWithAnomaly"}})
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	for _, thr := range []float64{0.3, 0.5, 0.7} {
		r, err := Run(c, RunOptions{Factory: model.Default(), Threshold: thr, OutDir: out})
		if err != nil {
			t.Fatal(err)
		}
		b, err := exec.Command(py, filepath.Join("testdata", "nabscore.py"), nabDir, out, strconv.FormatFloat(thr, 'g', -1, 64)).CombinedOutput()
		if err != nil {
			t.Fatalf("nabscore.py: %v\n%s", err, b)
		}
		want := ""
		for _, p := range r.Profiles {
			want += fmt.Sprintf("%s %.6f\n", p.Fixed.Profile, p.Fixed.Score)
		}
		want += fmt.Sprintf("events %d %d %d\n", r.Events.TP, r.Events.FN, r.Events.FP)
		if string(b) != want {
			t.Errorf("threshold %v: the independent scorer says\n%swant\n%s", thr, b, want)
		}
	}
}
