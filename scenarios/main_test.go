//go:build scenarios

package scenarios

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/smartcloudops/smartcloudops/internal/testenv"
)

// suite is what every story shares: the binary under test, built once, and the trained models.
var suite struct {
	bin       string
	baseline  string // model file trained on the baseline shape
	saturated string // model file trained on the saturated shape
}

func TestMain(m *testing.M) {
	if missing := testenv.Missing(); len(missing) > 0 {
		fmt.Fprintf(os.Stderr, "scenarios: the Debian packages %s are not installed; run scripts/install-test-deps.sh "+
			"(the CI runs it before the suite, so nothing here is skipped)\n", strings.Join(missing, ", "))
		os.Exit(1)
	}
	dir, err := os.MkdirTemp("", "smartcloudops-scenarios-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "scenarios:", err)
		os.Exit(1)
	}
	code := 1
	if err := prepare(dir); err != nil {
		fmt.Fprintln(os.Stderr, "scenarios:", err)
	} else {
		code = m.Run()
		// `make scenarios` names a file for the latencies, which it prints whether the suite
		// passed or not (go test shows a passing package's output only with -v).
		if path := os.Getenv("SCENARIOS_LATENCIES"); path != "" {
			if err := os.WriteFile(path, []byte(figureTable()), 0o600); err != nil {
				fmt.Fprintln(os.Stderr, "scenarios: latencies:", err)
			}
		}
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// prepare builds the binary and trains the models the detector stories start from, so they
// need not wait out the model's warm-up.
func prepare(dir string) error {
	suite.bin = filepath.Join(dir, "smartcloudops")
	args := []string{"build", "-o", suite.bin}
	// The binary runs without the race detector by default, so the stories see realistic timing;
	// SCENARIOS_RACE=1 builds it with the detector.
	if os.Getenv("SCENARIOS_RACE") == "1" {
		args = append(args, "-race")
	}
	args = append(args, "github.com/smartcloudops/smartcloudops/cmd/smartcloudops")
	build := exec.Command(goTool(), args...) // #nosec G204 -- the go tool on fixed arguments
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("build the binary: %v\n%s", err, out)
	}
	for _, m := range []struct {
		out   *string
		name  string
		shape shape
	}{{&suite.baseline, "baseline", baseline}, {&suite.saturated, "saturated", saturated()}} {
		csv := filepath.Join(dir, m.name+".csv")
		// Two hours at one point a second: long past the warm-up, as a user's exported history is.
		if err := writeHistory(csv, m.shape, 7200, seedOf(m.name)); err != nil {
			return err
		}
		*m.out = filepath.Join(dir, m.name+".model")
		train := exec.Command(suite.bin, "detect", "train", "--csv", csv, "--out", *m.out) // #nosec G204 -- the binary under test
		if out, err := train.CombinedOutput(); err != nil {
			return fmt.Errorf("detect train on the %s history: %v\n%s", m.name, err, out)
		}
	}
	return nil
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// env is what the stories share: the controllable exporter, and a Prometheus (1 s scrapes and
// evaluations) scraping it and Debian's node exporter. Stories that stop a server, or need
// Alertmanager wired to their own bot, start their own.
type env struct {
	exp  *exporter
	node string
	prom string
	// etcd is a three-member cluster that the failover stories which leave etcd itself alone
	// share, each under its own prefix.
	etcd *testenv.Etcd
}

// story is one user story of the suite.
type story struct {
	name string
	run  func(t *testing.T, e *env)
}

var stories = []story{
	{"query_rule", queryRule},
	{"anomaly_twin", anomalyTwin},
	{"load_resolve_load_again", loadTwice},
	{"saturated_series_with_dips", saturatedSeries},
	{"alertmanager_alert_to_resolution", alertmanagerFlow},
	{"silence_from_chat", silenceFromChat},
	{"prometheus_down_and_back", prometheusDownAndBack},
	{"alertmanager_down_during_silence", alertmanagerDownDuringSilence},
	{"restart_mid_incident", restartMidIncident},
	{"replicas_failover", replicasFailover},
	{"replicas_partitioned_leader", replicasPartitionedLeader},
	{"etcd_member_loss_and_quorum", etcdMemberLossAndQuorum},
}

// TestScenarios runs every story against the real binary, in parallel. Run one with
// -run 'TestScenarios/query_rule'.
func TestScenarios(t *testing.T) {
	e := &env{exp: startExporter(t)}
	e.node = testenv.StartNodeExporter(t)
	e.prom = testenv.StartPrometheus(t, testenv.PromOptions{
		ScrapeTargets: []string{e.node},
		ScrapeJobs:    map[string][]string{"scenarios": {e.exp.addr}},
	})
	e.etcd = testenv.StartEtcdCluster(t, 3, testenv.EtcdOptions{})
	t.Cleanup(func() { t.Log(figureTable()) })
	for _, s := range stories {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			s.run(t, e)
		})
	}
}

// figure is one measured latency of a story.
type figure struct {
	story, what string
	d           time.Duration
}

var figures struct {
	mu   sync.Mutex
	list []figure
}

// measure records how long it took from one moment of the story to another; the suite prints
// every figure at the end. Figures are reported, never asserted.
func measure(t *testing.T, what string, from, to time.Time) time.Duration {
	t.Helper()
	d := to.Sub(from)
	name := t.Name()[strings.LastIndex(t.Name(), "/")+1:]
	figures.mu.Lock()
	figures.list = append(figures.list, figure{story: name, what: what, d: d})
	figures.mu.Unlock()
	t.Logf("measured %s: %.1fs", what, d.Seconds())
	return d
}

// figureTable renders the figures measured so far as a table, story by story.
func figureTable() string {
	figures.mu.Lock()
	list := append([]figure(nil), figures.list...)
	figures.mu.Unlock()
	sort.SliceStable(list, func(i, j int) bool { return list[i].story < list[j].story })
	var b strings.Builder
	fmt.Fprintf(&b, "scenario latencies (%s, %d CPUs):\n", time.Now().UTC().Format(time.RFC3339), runtime.NumCPU())
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "story\tfrom → to\tseconds")
	for _, f := range list {
		fmt.Fprintf(tw, "%s\t%s\t%.1f\n", f.story, f.what, f.d.Seconds())
	}
	tw.Flush()
	return b.String()
}
