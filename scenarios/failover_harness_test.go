//go:build scenarios

package scenarios

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// restartDelay is how long the supervisor waits before it starts a replica that exited again,
// as systemd's RestartSec does; the deployment guide's units use the same.
const restartDelay = time.Second

// replica is one bot of a replicated deployment: the real binary on the shared etcd store,
// supervised like a systemd unit with Restart=always, so a replica that exits (a deposed leader
// stops so that it comes back as a follower; one that cannot reach etcd at start fails) is
// started again on the same configuration.
type replica struct {
	*bot
	name string // as /readyz and `status` name it: host@127.0.0.1:port
	set  *replicaSet

	quit     chan struct{}
	finished chan struct{}
	mu       sync.Mutex
	exits    []string // how each run that ended by itself ended
}

// replicaSet is n replicas sharing one etcd prefix, the file their script actions append to,
// and the rules.
type replicaSet struct {
	t        *testing.T
	replicas []*replica
	ran      string
	slowRan  string
}

// replicaSpec configures startReplicas: endpoints gives replica i its etcd endpoints (a proxy in
// front of the cluster, or the cluster itself).
type replicaSpec struct {
	n         int
	prefix    string
	endpoints func(i int) []string
	rules     string
}

// slowScript is an allow-listed action that takes its time: it appends "start <word> <pid>" to
// a file, sleeps for its second argument in seconds, and appends "end <word>". Its PID is the
// ID of its process group, which the test kills to end the action as a crashed host would.
const slowScript = `#!/bin/sh
printf 'start %%s %%s\n' "$1" "$$" >> '%[1]s'
sleep "$2"
printf 'end %%s\n' "$1" >> '%[1]s'
echo "slept $2 s for $1"
`

// startReplicas starts the replicas one after another, each ready (/readyz 200) before the
// next, so the first one leads.
func startReplicas(t *testing.T, s replicaSpec) *replicaSet {
	t.Helper()
	dir := t.TempDir()
	rs := &replicaSet{t: t, ran: filepath.Join(dir, "ran.log"), slowRan: filepath.Join(dir, "slow.log")}
	for i := range s.n {
		// A card per alert, so each incident's card tells its own story.
		spec := botSpec{Rules: s.rules, RanFile: rs.ran, Artifacts: fmt.Sprintf("replica-%d", i), Notify: map[string]any{"group_by": []string{"..."}, "group_wait": "1s"},
			Scripts: map[string]string{"slow.sh": fmt.Sprintf(slowScript, rs.slowRan)},
			Store: map[string]any{"backend": "etcd", "etcd": map[string]any{
				"endpoints": s.endpoints(i), "prefix": s.prefix, "deployment": "scenarios", "dial_timeout": "2s"}}}
		b := startBot(t, spec)
		host, err := os.Hostname()
		must(t, err)
		r := &replica{bot: b, set: rs, name: fmt.Sprintf("%s@127.0.0.1:%d", host, b.port), quit: make(chan struct{}), finished: make(chan struct{})}
		go r.supervise()
		// Registered after startBot's cleanup, so it runs first: the supervisor stops before the
		// bot is shut down, and does not start it again.
		t.Cleanup(func() {
			close(r.quit)
			<-r.finished
			if exits := r.exitList(); len(exits) > 0 {
				t.Logf("replica %s exited by itself and was restarted: %s", r.name, strings.Join(exits, "; "))
			}
		})
		rs.replicas = append(rs.replicas, r)
	}
	return rs
}

// supervise starts the replica again, restartDelay after each exit, until quit.
func (r *replica) supervise() {
	defer close(r.finished)
	for {
		r.bot.mu.Lock()
		done := r.bot.done
		r.bot.mu.Unlock()
		select {
		case <-done:
		case <-r.quit:
			return
		}
		_, err := r.bot.exited()
		r.mu.Lock()
		r.exits = append(r.exits, fmt.Sprintf("%s: %v", time.Now().UTC().Format("15:04:05.000"), err))
		r.mu.Unlock()
		select {
		case <-time.After(restartDelay):
		case <-r.quit:
			return
		}
		if err := r.bot.launchErr(); err != nil {
			r.mu.Lock()
			r.exits = append(r.exits, "not started again: "+err.Error())
			r.mu.Unlock()
			return
		}
	}
}

func (r *replica) exitList() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.exits...)
}

// crash ends the replica with SIGKILL, and the actions it started with it, as the death of its
// host would; its supervisor starts it again.
func (r *replica) crash() {
	r.t.Helper()
	for _, pid := range r.set.runningSlow() {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	}
	r.kill()
}

// readyz returns the replica's /readyz status code and body; 0 when it does not answer within
// 3 s.
func (r *replica) readyz() (int, string) { return r.readyzWithin(3 * time.Second) }

// readyzWithin is readyz with another limit: a replica that cannot reach etcd answers once its
// store request has timed out.
func (r *replica) readyzWithin(d time.Duration) (int, string) {
	client := &http.Client{Timeout: d}
	resp, err := client.Get(r.URL + "/readyz")
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// leads reports whether the replica's /readyz says it leads.
func (r *replica) leads() bool {
	code, body := r.readyz()
	return code == http.StatusOK && strings.Contains(body, "leader: this replica leads ("+r.name+")")
}

// waitLeader waits until exactly one replica says it leads and every other ready replica names
// it as the leader, and returns it. Not nil: that replica must not be the one.
func (rs *replicaSet) waitLeader(what string, not *replica) *replica {
	rs.t.Helper()
	deadline := time.Now().Add(patience)
	var last []string
	for {
		var leaders []*replica
		last = last[:0]
		bodies, codes := map[*replica]string{}, map[*replica]int{}
		for _, r := range rs.replicas {
			code, body := r.readyz()
			bodies[r], codes[r] = body, code
			last = append(last, fmt.Sprintf("%s: %d %s", r.name, code, strings.TrimSpace(body)))
			if code == http.StatusOK && strings.Contains(body, "leader: this replica leads ("+r.name+")") {
				leaders = append(leaders, r)
			}
		}
		if len(leaders) == 1 && leaders[0] != not {
			agreed := true
			for _, r := range rs.replicas {
				if r != leaders[0] && codes[r] == http.StatusOK && !strings.Contains(bodies[r], "leader: "+leaders[0].name+" leads") {
					agreed = false
				}
			}
			if agreed {
				return leaders[0]
			}
		}
		if len(leaders) > 1 {
			rs.t.Errorf("%d replicas say they lead at once:\n%s", len(leaders), strings.Join(last, "\n"))
		}
		if time.Now().After(deadline) {
			rs.t.Fatalf("waited %s for %s; /readyz of each replica:\n%s", patience, what, strings.Join(last, "\n"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// followers returns every replica but r.
func (rs *replicaSet) followers(r *replica) []*replica {
	var out []*replica
	for _, o := range rs.replicas {
		if o != r {
			out = append(out, o)
		}
	}
	return out
}

// allCards returns the cards every replica's console printed: only the leader posts and edits
// cards, so after a failover a card's story goes on in another replica's console.
func (rs *replicaSet) allCards() []card {
	var out []card
	for _, r := range rs.replicas {
		out = append(out, r.cards()...)
	}
	return out
}

// allThreads returns the thread replies every replica's console printed.
func (rs *replicaSet) allThreads() []thread {
	var out []thread
	for _, r := range rs.replicas {
		lines, _ := r.tr.snapshot()
		out = append(out, parse(lines).threads...)
	}
	return out
}

// waitCard waits until some replica's console shows a card that satisfies ok, and returns the
// latest such card.
func (rs *replicaSet) waitCard(what string, ok func(card) bool) card {
	rs.t.Helper()
	var found card
	rs.wait(what, func() bool {
		hit := false
		for _, c := range rs.allCards() {
			if ok(c) && (!hit || c.At.After(found.At)) {
				found, hit = c, true
			}
		}
		return hit
	})
	return found
}

// waitThread waits until some replica's console shows a thread reply that satisfies ok.
func (rs *replicaSet) waitThread(what string, ok func(thread) bool) thread {
	rs.t.Helper()
	var found thread
	rs.wait(what, func() bool {
		for _, th := range rs.allThreads() {
			if ok(th) {
				found = th
				return true
			}
		}
		return false
	})
	return found
}

// wait polls cond every 200 ms for at most patience, failing the test with every replica's
// console on timeout.
func (rs *replicaSet) wait(what string, cond func() bool) {
	rs.t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			var b strings.Builder
			for _, r := range rs.replicas {
				fmt.Fprintf(&b, "--- console of %s:\n%s", r.name, r.tr.String())
			}
			rs.t.Fatalf("waited %s for %s; it did not happen.\n%s", patience, what, b.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// cardState returns the state of proposal id as the latest card showing it reads, on any console.
func (rs *replicaSet) cardState(id string) string {
	var state string
	var at time.Time
	for _, c := range rs.allCards() {
		if p, ok := c.proposal(id); ok && !c.At.Before(at) {
			state, at = p.State, c.At
		}
	}
	return state
}

// waitState waits until the cards show proposal id in a state starting with prefix.
func (rs *replicaSet) waitState(id, prefix string) string {
	rs.t.Helper()
	rs.wait(fmt.Sprintf("the card to show %s %s", id, prefix), func() bool { return strings.HasPrefix(rs.cardState(id), prefix) })
	return rs.cardState(id)
}

// lines reads a file the script actions append to, one line per entry.
func (rs *replicaSet) lines(path string) []string {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	data = bytes.TrimRight(data, "\n")
	if len(data) == 0 {
		return nil
	}
	return strings.Split(string(data), "\n")
}

var slowStart = regexp.MustCompile(`^start (\S+) (\d+)$`)

// runningSlow returns the process groups of slow.sh runs that started and have not ended.
func (rs *replicaSet) runningSlow() []int {
	started := map[string]int{}
	for _, l := range rs.lines(rs.slowRan) {
		if m := slowStart.FindStringSubmatch(l); m != nil {
			started[m[1]], _ = strconv.Atoi(m[2])
		} else if w, ok := strings.CutPrefix(l, "end "); ok {
			delete(started, w)
		}
	}
	var out []int
	for _, pid := range started {
		out = append(out, pid)
	}
	return out
}

// count returns how many lines of a file are exactly want.
func count(lines []string, want string) int {
	n := 0
	for _, l := range lines {
		if l == want {
			n++
		}
	}
	return n
}

// fireAlert posts one Alertmanager notification to a replica's webhook, as Alertmanager does:
// a group of one firing alert with the given alertname and instance.
func fireAlert(t *testing.T, r *replica, alertname, instance string) {
	t.Helper()
	labels := map[string]string{"alertname": alertname, "instance": instance, "severity": "critical"}
	notification := map[string]any{
		"version": "4", "status": "firing", "receiver": "bot", "externalURL": "http://alertmanager.invalid",
		"groupKey":          fmt.Sprintf(`{}:{alertname=%q, instance=%q}`, alertname, instance),
		"groupLabels":       map[string]string{"alertname": alertname, "instance": instance},
		"commonLabels":      labels,
		"commonAnnotations": map[string]string{"summary": "failover scenario"},
		"alerts": []map[string]any{{"status": "firing", "labels": labels, "annotations": map[string]string{"summary": "failover scenario"},
			"startsAt": time.Now().Add(-time.Minute).UTC().Format(time.RFC3339), "endsAt": "0001-01-01T00:00:00Z"}},
	}
	data, err := json.Marshal(notification)
	must(t, err)
	body := string(data)
	deadline := time.Now().Add(patience)
	for {
		resp, err := http.Post(r.URL+"/api/v1/alertmanager", "application/json", strings.NewReader(body))
		if err == nil {
			msg, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			err = fmt.Errorf("HTTP %d: %s", resp.StatusCode, msg)
		}
		// Alertmanager retries a failed delivery; so does the test, while the replica restarts.
		if time.Now().After(deadline) {
			t.Fatalf("the webhook of %s did not take the alert %s/%s within %s: %v", r.name, alertname, instance, patience, err)
		}
		time.Sleep(time.Second)
	}
}

// command runs the binary under test with args, as an operator on the replica's host would.
func (r *replica) command(args ...string) (string, error) {
	out, err := exec.Command(suite.bin, args...).CombinedOutput() // #nosec G204 -- the binary under test
	return string(out), err
}
