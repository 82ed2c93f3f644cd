package eval

import (
	"bytes"
	"os"
	"path/filepath"
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
	// Written scores read back score the same as the in-memory ones.
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
