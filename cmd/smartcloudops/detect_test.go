package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/smartcloudops/smartcloudops/detector/model"
)

func runDetectCLI(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := runDetect(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestDetectUsage(t *testing.T) {
	tests := []struct {
		args []string
		code int
	}{
		{nil, 2},
		{[]string{"--help"}, 0},
		{[]string{"bogus"}, 2},
		{[]string{"train", "--help"}, 0},
		{[]string{"train"}, 2},
		{[]string{"train", "--csv", "a", "--prometheus", "b", "--out", "x"}, 2},
		{[]string{"train", "--csv", "a", "--out", "x", "--model", "nope"}, 2},
		{[]string{"train", "--csv", "/nonexistent.csv", "--out", "x"}, 1},
		{[]string{"eval", "--help"}, 0},
		{[]string{"eval"}, 2},
		{[]string{"eval", "--nab", "/nonexistent"}, 1},
		{[]string{"eval", "--nab", "x", "--threshold", "3"}, 2},
		{[]string{"eval", "--bogus"}, 2},
		{[]string{"eval", "--nab", "x", "--synthetic"}, 2},
		{[]string{"eval", "--synthetic", "--categories", "daily"}, 2},
		{[]string{"eval", "--synthetic", "--copies", "0"}, 2},
		{[]string{"eval", "--cv"}, 2},
		{[]string{"eval", "--synthetic", "--cv"}, 2},
		{[]string{"eval", "--nab", "x", "--cv", "--out", "y"}, 2},
		{[]string{"eval", "--noise", "--synthetic"}, 2},
		{[]string{"eval", "--noise", "--series", "0", "--points", "10"}, 2},
		{[]string{"eval", "--noise", "--series", "5", "--points", "100,200"}, 2},
		{[]string{"eval", "--noise", "--series", "5,x", "--points", "100,200"}, 2},
		{[]string{"eval", "--noise", "--categories", "a"}, 2},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			if code, out, errs := runDetectCLI(tc.args...); code != tc.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, out, errs)
			}
		})
	}
}

func TestTrainCSV(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "h.csv")
	var b strings.Builder
	b.WriteString("timestamp,value\n")
	for i := range 500 {
		fmt.Fprintf(&b, "2024-01-01 %02d:%02d:00,%d\n", i/60%24, i%60, i%17)
	}
	b.WriteString("2024-01-02 00:00:00,NaN\n")
	if err := os.WriteFile(in, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "m.model")
	code, stdout, stderr := runDetectCLI("train", "--csv", in, "--out", out)
	if code != 0 || !strings.Contains(stderr, "skipped 1") {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	if _, err := model.LoadFile(out); err != nil {
		t.Fatal(err)
	}
}

// promServer speaks enough of the Prometheus HTTP API for a range query.
func promServer(t *testing.T, series int) *httptest.Server {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/query_range" {
			http.NotFound(w, r)
			return
		}
		if err := r.ParseForm(); err != nil || r.Form.Get("query") != "up" {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"status":"error","errorType":"bad_data","error":"unexpected query"}`)
			return
		}
		var res []map[string]any
		for s := range series {
			var vals [][]any
			for i := range 300 {
				vals = append(vals, []any{1700000000 + i*60, fmt.Sprint(i%9 + s)})
			}
			res = append(res, map[string]any{"metric": map[string]string{"job": fmt.Sprint(s)}, "values": vals})
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": map[string]any{"resultType": "matrix", "result": res}})
	}))
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

func TestTrainPrometheus(t *testing.T) {
	out := filepath.Join(t.TempDir(), "m.model")
	srv := promServer(t, 1)
	code, stdout, stderr := runDetectCLI("train", "--prometheus", srv.URL, "--query", "up", "--from", "2023-11-14T22:00:00Z",
		"--to", "2023-11-15T00:00:00Z", "--out", out, "--model", "robust")
	if code != 0 || !strings.Contains(stdout, "300 points") {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	f, err := model.LoadFile(out)
	if err != nil || f().Name() != model.NameRobust {
		t.Fatalf("model file: %v", err)
	}
	two := promServer(t, 2)
	if code, _, stderr := runDetectCLI("train", "--prometheus", two.URL, "--query", "up", "--from", "1h", "--out", out); code != 1 || !strings.Contains(stderr, "2 series") {
		t.Errorf("two series: exit %d, stderr %s", code, stderr)
	}
	if code, _, stderr := runDetectCLI("train", "--prometheus", srv.URL, "--query", "down", "--from", "1h", "--out", out); code != 1 || !strings.Contains(stderr, "down") {
		t.Errorf("bad query: exit %d, stderr %s", code, stderr)
	}
}

func TestEvalNAB(t *testing.T) {
	nab := "../../../shared/data/nab"
	if _, err := os.Stat(filepath.Join(nab, "labels")); err != nil {
		t.Skipf("NAB data not found at %s: %v", nab, err)
	}
	dir := t.TempDir()
	md := filepath.Join(dir, "r.md")
	code, stdout, stderr := runDetectCLI("eval", "--nab", nab, "--categories", "realAdExchange", "--out", dir, "--json", "--markdown", md)
	if code != 0 {
		t.Fatalf("exit %d\nstderr: %s", code, stderr)
	}
	var rep struct {
		Threshold float64 `json:"threshold"`
		Points    int     `json:"points"`
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil || rep.Threshold != model.DefaultThreshold || rep.Points != 9610 {
		t.Fatalf("json %+v, err %v:\n%s", rep, err, stdout)
	}
	if b, err := os.ReadFile(md); err != nil || !strings.Contains(string(b), "Event-level F1") {
		t.Errorf("markdown report: %v", err)
	}
}

// TestEvalSynthetic replays one copy of the generated families through the CLI: the text report
// is compared with a golden file (with the machine-dependent speed masked), the JSON form carries
// the tables by kind and by family, and the Markdown report is titled for the synthetic corpus.
func TestEvalSynthetic(t *testing.T) {
	code, stdout, stderr := runDetectCLI("eval", "--synthetic", "--copies", "1")
	if code != 0 {
		t.Fatalf("exit %d\nstderr: %s", code, stderr)
	}
	speed := regexp.MustCompile(`at \d+ points/s`)
	goldenFile(t, filepath.Join("testdata", "detect", "eval-synthetic.golden"),
		"$ smartcloudops detect eval --synthetic --copies 1\n"+speed.ReplaceAllString(stdout, "at N points/s"))

	md := filepath.Join(t.TempDir(), "s.md")
	code, stdout, stderr = runDetectCLI("eval", "--synthetic", "--copies", "1", "--seed", "2", "--json", "--markdown", md)
	if code != 0 {
		t.Fatalf("exit %d\nstderr: %s", code, stderr)
	}
	var rep struct {
		Synthetic struct {
			Kinds    []struct{ Kind string }   `json:"kinds"`
			Families []struct{ Family string } `json:"families"`
		} `json:"synthetic"`
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil || len(rep.Synthetic.Kinds) != 11 || len(rep.Synthetic.Families) != 9 {
		t.Fatalf("json %+v, err %v", rep, err)
	}
	b, err := os.ReadFile(md)
	if err != nil || !strings.HasPrefix(string(b), "# SmartCloudOps detector evaluation (synthetic families)") ||
		!strings.Contains(string(b), "## By injected kind") {
		t.Errorf("markdown report: %v\n%s", err, b)
	}
}

// TestEvalCV cross-validates over the development set through the CLI: four folds, each with the
// candidate chosen on the others, and the Markdown report.
func TestEvalCV(t *testing.T) {
	nab := "../../../shared/data/nab"
	if _, err := os.Stat(filepath.Join(nab, "labels")); err != nil {
		t.Skipf("NAB data not found at %s: %v", nab, err)
	}
	md := filepath.Join(t.TempDir(), "cv.md")
	code, stdout, stderr := runDetectCLI("eval", "--nab", nab, "--cv", "--json", "--markdown", md)
	if code != 0 {
		t.Fatalf("exit %d\nstderr: %s", code, stderr)
	}
	var rep struct {
		Folds []struct {
			Fold, Chosen string
		} `json:"folds"`
		Mean   float64 `json:"mean_standard"`
		Worst  float64 `json:"worst_standard"`
		Chosen string  `json:"chosen_on_all"`
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil || len(rep.Folds) != 4 || rep.Chosen == "" || rep.Worst > rep.Mean {
		t.Fatalf("json %+v, err %v", rep, err)
	}
	if b, err := os.ReadFile(md); err != nil || !strings.Contains(string(b), "## Cross-validation") {
		t.Errorf("markdown report: %v\n%s", err, b)
	}
}

// TestEvalNoise counts false incidents on a few generated series through the CLI, at two sizes.
func TestEvalNoise(t *testing.T) {
	code, stdout, stderr := runDetectCLI("eval", "--noise", "--series", "3,1", "--points", "600,900", "--json")
	if code != 0 {
		t.Fatalf("exit %d\nstderr: %s", code, stderr)
	}
	var rep struct {
		ResolveAfter int `json:"resolve_after"`
		Sets         []struct {
			Series int `json:"series"`
			Points int `json:"points_per_series"`
			Kinds  []struct {
				Kind      string `json:"kind"`
				Points    int    `json:"points"`
				Incidents int    `json:"incidents"`
				Runs      int    `json:"runs"`
			} `json:"kinds"`
		} `json:"sets"`
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil || len(rep.Sets) != 2 || rep.ResolveAfter != 3 {
		t.Fatalf("json %+v, err %v\n%s", rep, err, stdout)
	}
	for i, want := range [][2]int{{3, 600}, {1, 900}} {
		set := rep.Sets[i]
		if set.Series != want[0] || set.Points != want[1] || len(set.Kinds) != 4 || set.Kinds[0].Points != want[0]*want[1] {
			t.Errorf("set %d: %+v", i, set)
		}
	}
}

func TestTrainWarnsAboutHistory(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "short.csv")
	csv := "timestamp,value\n2024-01-01 00:00:00,1\n2024-01-01 00:01:00,2\n2024-01-01 00:01:00,3\n2023-12-31 00:00:00,4\n"
	if err := os.WriteFile(in, []byte(csv), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runDetectCLI("train", "--csv", in, "--out", filepath.Join(dir, "m.model"))
	for _, want := range []string{
		in + ": 1 point repeats the previous timestamp (first at 2024-01-01T00:01:00Z)",
		in + ": 1 point is earlier than a point before (first at 2023-12-31T00:00:00Z)",
		in + ": only 4 usable points, fewer than the 64",
	} {
		if !strings.Contains(stderr, "detect train: warning: "+want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if code != 0 || !strings.Contains(stdout, "trained robust model on 4 points") {
		t.Fatalf("exit %d, stdout %q", code, stdout)
	}
}
