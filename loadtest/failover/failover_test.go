//go:build loadtest

package failover

import (
	"flag"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smartcloudops/smartcloudops/internal/testenv"
)

var (
	kills    = flag.Int("kills", 20, "how many times the leader is SIGKILLed")
	latencyN = flag.Int("latency", 200, "sequential approvals whose approval → action start is measured")
	raceN    = flag.Int("race", 1000, "proposals each approved twice at once, on two replicas")
	jsonOut  = flag.String("json", "", "also write the JSON report to this file")
)

// keys are the API keys the test uses: proposals are made with one, approvals with the others
// (another person than the requester, as the policy of a proposal made through the API wants),
// spread so the per-key rate limit is not the bottleneck.
var keys = []string{"proposer", "approver-1", "approver-2", "approver-3", "approver-4"}

// clients are the API clients of every replica, by key.
type clients map[*replica]map[string]*client

func newClients(d *deployment, tokens map[string]string) clients {
	cs := clients{}
	for _, r := range d.replicas {
		cs[r] = map[string]*client{}
		for name, tok := range tokens {
			cs[r][name] = newClient(r.URL, tok)
		}
	}
	return cs
}

// TestFailoverLoad runs the three measurements on one deployment and reports them.
func TestFailoverLoad(t *testing.T) {
	etcd := testenv.StartEtcdCluster(t, 3, testenv.EtcdOptions{})
	d, tokens := deploy(t, etcd, 3, keys)
	cs := newClients(d, tokens)
	rep := report{Kills: *kills, LatencyN: *latencyN, RaceN: *raceN, EtcdMembers: len(etcd.Members), Replicas: len(d.replicas)}

	rep.Failovers = measureKills(t, d, cs, *kills)
	rep.Approval = measureLatency(t, d, cs, *latencyN)
	rep.Race = measureRace(t, d, cs, *raceN)

	// Every approval of the whole run ran exactly once.
	n, _ := runs(d.ran)
	for tag, c := range n {
		if c > 1 {
			rep.Duplicates++
			t.Errorf("record.sh ran %d times for %s; want once", c, tag)
		}
	}
	for _, tag := range approvedTags {
		if n[tag] == 0 {
			rep.Lost++
			t.Errorf("the approval of %s never ran", tag)
		}
	}
	slowStarts := map[string]int{}
	for _, l := range lines(d.slow) {
		if tag, ok := strings.CutPrefix(l, "start "); ok {
			slowStarts[tag]++
		}
	}
	for tag, c := range slowStarts {
		if c > 1 {
			rep.Duplicates++
			t.Errorf("slow.sh started %d times for %s, the action running at a kill; want once", c, tag)
		}
	}
	rep.RateLimited = limited.Load()
	rep.print(t, *jsonOut)
}

// measureKills SIGKILLs the leader k times. Before each kill an action is running on it (slow.sh,
// approved on a follower) and a proposal is pending; right after the kill the proposal is
// approved on a follower, while no replica leads. It measures how long until another replica
// leads, ticks and starts that approval.
func measureKills(t *testing.T, d *deployment, cs clients, k int) []kill {
	var out []kill
	for i := 1; i <= k; i++ {
		for _, r := range d.replicas {
			r.waitReady() // the replica killed last time is back, as a follower
		}
		lead := d.leader()
		fs := d.followers(lead)
		f := fs[i%len(fs)]
		pk, err := cs[f]["proposer"].propose("record.sh", fmt.Sprintf("kill-%02d", i), 0)
		must(t, err)
		sk, err := cs[f]["proposer"].propose("slow.sh", fmt.Sprintf("slow-%02d", i), 2)
		must(t, err)
		if code, _, err := cs[f]["approver-1"].approve(sk.ID); err != nil || code != http.StatusOK {
			t.Fatalf("approve %s on %s: %d %v", sk.ID, f.name, code, err)
		}
		waitFor(t, "slow.sh to start for "+sk.ID, 30*time.Second, func() bool {
			return slices.Contains(lines(d.slow), fmt.Sprintf("start slow-%02d", i))
		})

		t0 := time.Now()
		lead.kill()
		if code, _, err := cs[f]["approver-2"].approve(pk.ID); err != nil || code != http.StatusOK {
			t.Fatalf("approve %s on %s with no leader: %d %v", pk.ID, f.name, code, err)
		}
		kr := kill{N: i, From: lead.name}
		var leadAt, tickAt, execAt time.Time
		deadline := t0.Add(time.Minute)
		for (leadAt.IsZero() || tickAt.IsZero() || execAt.IsZero()) && time.Now().Before(deadline) {
			for _, r := range fs {
				leads, ticks, ok := r.metrics()
				if !ok || !leads {
					continue
				}
				now := time.Now()
				if leadAt.IsZero() {
					leadAt, kr.To = now, r.name
				}
				if tickAt.IsZero() && ticks >= 1 {
					tickAt = now
				}
			}
			if execAt.IsZero() {
				if p, err := cs[f]["proposer"].get(pk.ID); err == nil && !p.StartedAt.IsZero() {
					execAt = p.StartedAt
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
		if leadAt.IsZero() || tickAt.IsZero() || execAt.IsZero() {
			t.Fatalf("kill %d: within a minute: led %v, ticked %v, started the queued approval %v", i, !leadAt.IsZero(), !tickAt.IsZero(), !execAt.IsZero())
		}
		kr.LeadS, kr.TickS, kr.ExecS = leadAt.Sub(t0).Seconds(), tickAt.Sub(t0).Seconds(), execAt.Sub(t0).Seconds()
		kr.ActingS = max(kr.TickS, kr.ExecS)
		waitFor(t, "the action running at the kill to be unknown", 30*time.Second, func() bool {
			p, err := cs[f]["proposer"].get(sk.ID)
			kr.RunningAtKill = p.State
			return err == nil && p.State == "unknown"
		})
		t.Logf("kill %2d: %s → %s: leads %.2fs, ticks %.2fs, starts the queued approval %.2fs; the running action is %s",
			i, kr.From, kr.To, kr.LeadS, kr.TickS, kr.ExecS, kr.RunningAtKill)
		out = append(out, kr)
	}
	for i := 1; i <= k; i++ {
		approvedTags = append(approvedTags, fmt.Sprintf("kill-%02d", i))
	}
	return out
}

// approvedTags collects the tags of every approval made, for the lost-approval count.
var approvedTags []string

// measureLatency approves n proposals one after another, each on the next replica in turn, and
// reads how long after its approval each action started (decided_at → started_at, both stamped
// by the bot). An approval on the leader runs at once; one on a follower reaches the leader's
// executor through its store watch.
func measureLatency(t *testing.T, d *deployment, cs clients, n int) latency {
	lead := d.leader()
	var all, onLeader, onFollower []float64
	for i := range n {
		r := d.replicas[i%len(d.replicas)]
		tag := fmt.Sprintf("lat-%04d", i)
		p, err := cs[r]["proposer"].propose("record.sh", tag, 0)
		must(t, err)
		code, ap, err := cs[r][keys[1+i%4]].approve(p.ID)
		if err != nil || code != http.StatusOK {
			t.Fatalf("approve %s on %s: %d %v", p.ID, r.name, code, err)
		}
		approvedTags = append(approvedTags, tag)
		started := ap
		waitFor(t, "the approved "+p.ID+" to start", 30*time.Second, func() bool {
			if !started.StartedAt.IsZero() {
				return true
			}
			started, err = cs[r]["proposer"].get(p.ID)
			if err == nil && started.StartedAt.IsZero() {
				time.Sleep(2 * time.Millisecond)
			}
			return err == nil && !started.StartedAt.IsZero()
		})
		ms := float64(started.StartedAt.Sub(started.DecidedAt).Microseconds()) / 1000
		all = append(all, ms)
		if r == lead {
			onLeader = append(onLeader, ms)
		} else {
			onFollower = append(onFollower, ms)
		}
	}
	return latency{All: summarize(all), OnLeader: summarize(onLeader), OnFollower: summarize(onFollower)}
}

// measureRace makes n proposals, then approves each twice at once on two different replicas,
// with two different approvers, all approvals in flight together across 24 workers; exactly one
// approval of each may be taken and each proposal must run exactly once.
func measureRace(t *testing.T, d *deployment, cs clients, n int) race {
	ids := make([]string, n)
	work := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for w := range 12 {
		wg.Go(func() {
			for i := range work {
				r := d.replicas[(i+w)%len(d.replicas)]
				p, err := cs[r]["proposer"].propose("record.sh", fmt.Sprintf("race-%04d", i), 0)
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				}
				ids[i] = p.ID
				mu.Unlock()
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d proposals not made; the first: %v", len(errs), errs[0])
	}
	res := race{Proposals: n}
	type job struct {
		i int
		r *replica
		k string
	}
	jobs := make(chan job)
	start := time.Now()
	for range 24 {
		wg.Go(func() {
			for j := range jobs {
				code, _, err := cs[j.r][j.k].approve(ids[j.i])
				mu.Lock()
				switch {
				case err != nil:
					res.Errors++
					errs = append(errs, err)
				case code == http.StatusOK:
					res.Accepted++
				case code == http.StatusConflict:
					res.Refused++
				default:
					res.Errors++
					errs = append(errs, fmt.Errorf("approve %s on %s: HTTP %d", ids[j.i], j.r.name, code))
				}
				mu.Unlock()
			}
		})
	}
	for i := range n {
		a, b := d.replicas[i%3], d.replicas[(i+1)%3]
		jobs <- job{i, a, keys[1+i%4]}
		jobs <- job{i, b, keys[1+(i+1)%4]}
		approvedTags = append(approvedTags, fmt.Sprintf("race-%04d", i))
	}
	close(jobs)
	wg.Wait()
	res.Sent = 2 * n
	for _, err := range errs {
		t.Errorf("racing approval: %v", err)
	}
	waitFor(t, "every raced proposal to run", 5*time.Minute, func() bool {
		c, _ := runs(d.ran)
		done := 0
		for i := range n {
			if c[fmt.Sprintf("race-%04d", i)] > 0 {
				done++
			}
		}
		res.Executions = done
		return done == n
	})
	res.Seconds = time.Since(start).Seconds()
	c, _ := runs(d.ran)
	res.Executions = 0
	for i := range n {
		res.Executions += c[fmt.Sprintf("race-%04d", i)]
	}
	if res.Accepted != n || res.Executions != n {
		t.Errorf("%d racing approvals of %d proposals: %d accepted, %d refused, %d executions; want exactly %d accepted and %d executions",
			res.Sent, n, res.Accepted, res.Refused, res.Executions, n, n)
	}
	return res
}

// waitFor polls ok every 20 ms until it holds, failing the test after limit.
func waitFor(t *testing.T, what string, limit time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", limit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
