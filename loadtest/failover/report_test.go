//go:build loadtest

package failover

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"text/tabwriter"
	"time"
)

// kill is what one SIGKILL of the leader measured, in seconds from the kill.
type kill struct {
	N             int     `json:"n"`
	From          string  `json:"from"`
	To            string  `json:"to"`
	LeadS         float64 `json:"leads_s"`          // another replica's smartcloudops_leader is 1
	TickS         float64 `json:"first_tick_s"`     // its check's first tick
	ExecS         float64 `json:"queued_started_s"` // the approval made with no leader started
	ActingS       float64 `json:"acting_s"`         // both: ticking and executing
	RunningAtKill string  `json:"running_at_kill"`  // the state of the action running at the kill
}

// summary is a distribution: nearest-rank percentiles.
type summary struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

func summarize(xs []float64) summary {
	if len(xs) == 0 {
		return summary{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	rank := func(p float64) float64 { return s[max(0, int(math.Ceil(p*float64(len(s))))-1)] }
	return summary{N: len(s), P50: rank(0.50), P99: rank(0.99), Max: s[len(s)-1]}
}

// latency is approval → action start in milliseconds.
type latency struct {
	All        summary `json:"all_ms"`
	OnLeader   summary `json:"approved_on_leader_ms"`
	OnFollower summary `json:"approved_on_follower_ms"`
}

// race is the racing approvals' outcome.
type race struct {
	Proposals  int     `json:"proposals"`
	Sent       int     `json:"approvals_sent"`
	Accepted   int     `json:"approvals_accepted"`
	Refused    int     `json:"approvals_refused_already_decided"`
	Errors     int     `json:"errors"`
	Executions int     `json:"executions"`
	Seconds    float64 `json:"seconds_to_all_executed"`
}

// report is the whole run, printed as a table and as JSON.
type report struct {
	At          time.Time `json:"at"`
	CPUs        int       `json:"cpus"`
	EtcdMembers int       `json:"etcd_members"`
	Replicas    int       `json:"replicas"`
	Kills       int       `json:"kills"`
	LatencyN    int       `json:"latency_approvals"`
	RaceN       int       `json:"race_proposals"`
	Failovers   []kill    `json:"failovers"`
	Lead        summary   `json:"kill_to_leads_s"`
	Tick        summary   `json:"kill_to_first_tick_s"`
	Exec        summary   `json:"kill_to_queued_started_s"`
	Acting      summary   `json:"kill_to_acting_s"`
	Approval    latency   `json:"approval_to_start"`
	Race        race      `json:"race"`
	Duplicates  int       `json:"duplicate_executions"`
	Lost        int       `json:"lost_approvals"`
	UnknownOK   int       `json:"running_at_kill_unknown"`
	RateLimited int64     `json:"rate_limited_waits"`
}

// print completes the summaries, prints the table to the test log and stdout, and the JSON to
// stdout and to path when set.
func (r *report) print(t *testing.T, path string) {
	r.At, r.CPUs = time.Now().UTC(), runtime.NumCPU()
	var lead, tick, exec, acting []float64
	for _, k := range r.Failovers {
		lead, tick, exec, acting = append(lead, k.LeadS), append(tick, k.TickS), append(exec, k.ExecS), append(acting, k.ActingS)
		if k.RunningAtKill == "unknown" {
			r.UnknownOK++
		}
	}
	r.Lead, r.Tick, r.Exec, r.Acting = summarize(lead), summarize(tick), summarize(exec), summarize(acting)

	var b strings.Builder
	fmt.Fprintf(&b, "failover load test (%s, %d CPUs, %d replicas on %d etcd members)\n", r.At.Format(time.RFC3339), r.CPUs, r.Replicas, r.EtcdMembers)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "measure\tn\tp50\tp99\tmax\ttarget")
	row := func(what string, s summary, unit, target string) {
		fmt.Fprintf(tw, "%s\t%d\t%.2f %s\t%.2f %s\t%.2f %s\t%s\n", what, s.N, s.P50, unit, s.P99, unit, s.Max, unit, target)
	}
	row("SIGKILL → another replica leads", r.Lead, "s", "")
	row("SIGKILL → its first check tick", r.Tick, "s", "")
	row("SIGKILL → queued approval started", r.Exec, "s", "")
	row("SIGKILL → new leader acting (both)", r.Acting, "s", "p99 ≤ 10 s")
	row("approval → action start", r.Approval.All, "ms", "p99 < 100 ms")
	row("  approved on the leader", r.Approval.OnLeader, "ms", "")
	row("  approved on a follower", r.Approval.OnFollower, "ms", "")
	tw.Flush()
	fmt.Fprintf(&b, "action running at each kill: unknown on the new leader in %d of %d kills\n", r.UnknownOK, len(r.Failovers))
	fmt.Fprintf(&b, "duplicate executions: %d (target 0); lost approvals: %d (target 0)\n", r.Duplicates, r.Lost)
	fmt.Fprintf(&b, "racing approvals: %d proposals, %d approvals sent on two replicas each at once: %d accepted, %d refused (already decided), %d errors → %d executions in %.1f s (target exactly %d)\n",
		r.Race.Proposals, r.Race.Sent, r.Race.Accepted, r.Race.Refused, r.Race.Errors, r.Race.Executions, r.Race.Seconds, r.Race.Proposals)
	fmt.Fprintf(&b, "API rate-limit waits (429): %d\n", r.RateLimited)
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println(b.String())
	fmt.Println(string(data))
	if path != "" {
		if err := os.WriteFile(path, append(data, '\n'), 0o600); err != nil {
			t.Errorf("write %s: %v", path, err)
		}
	}
}
