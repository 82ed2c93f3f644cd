package commands

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smartcloudops/smartcloudops/bot"
	"github.com/smartcloudops/smartcloudops/incident"
	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/internal/store"
	"github.com/smartcloudops/smartcloudops/remediation"
	"github.com/smartcloudops/smartcloudops/remediation/audit"
)

type echoAction struct{}

func (echoAction) Name() string { return "echo" }
func (echoAction) Schema() remediation.Schema {
	return remediation.Schema{{Name: "msg", Type: remediation.TypeString, Required: true}}
}
func (echoAction) Target(p remediation.Params) string { return "echo/" + p.String("msg") }
func (echoAction) Describe(_ context.Context, p remediation.Params) (string, error) {
	return "say " + p.String("msg"), nil
}
func (echoAction) Execute(_ context.Context, p remediation.Params) (remediation.Result, error) {
	return remediation.Result{Summary: "said " + p.String("msg")}, nil
}

func newRouter(t *testing.T) (*Router, *audit.Log) {
	t.Helper()
	st := store.NewMemory()
	al, _ := audit.New(audit.Options{Store: st})
	inc, _ := incident.New(incident.Options{Store: st})
	mg, _ := remediation.New(remediation.Options{Store: st, Audit: al,
		Actions: func(n string) (remediation.Action, bool) { return echoAction{}, n == "echo" }})
	roles := map[string][]string{"alice": {"operator"}, "root": {"admin"}}
	r, err := New(Options{Incidents: inc, Proposals: mg, Audit: al, Logger: obs.Discard(), Version: "test",
		Roles: func(u bot.User) []string { return roles[u.ID] }, Actions: func() []string { return []string{"echo"} }})
	if err != nil {
		t.Fatal(err)
	}
	return r, al
}

func say(r *Router, user, line string) bot.Message {
	return r.Handle(context.Background(), bot.Event{Kind: bot.EventCommand, User: bot.User{Platform: "slack", ID: user, Name: user}, Text: line})
}

func TestCommands(t *testing.T) {
	r, al := newRouter(t)
	cases := []struct {
		user, line string
		want       []string
	}{
		{"bob", "", []string{"Type `help`"}},
		{"bob", "hepl", []string{`unknown command "hepl"`, `did you mean "help"`}},
		{"bob", "help approve", []string{"approve <proposal>"}},
		{"bob", "whoami", []string{"slack:bob", "roles: viewer"}},
		{"bob", "run echo msg=hi", []string{"`run` needs role operator"}},
		{"bob", "pause", []string{"`pause` needs role admin"}},
		{"alice", "run echo", []string{`"msg": required`}},
		{"alice", "run echo msg=hi msg=ho", []string{`parameter "msg" given twice`}},
		{"alice", "run nope x=1", []string{`unknown action "nope"`}},
		{"alice", `reject "unterminated`, []string{"unterminated quote"}},
		{"bob", "approve p-000000", []string{`no proposal "p-000000"`}},
		{"bob", "proposals bogus", []string{`unknown state "bogus"`}},
		{"bob", "silence incident inc-1 for soon", []string{"needs role operator"}},
		{"alice", "silence incident inc-1 for soon", []string{`"soon" is not a duration`}},
		{"alice", "silence env=prod for 2h deploy", []string{"Silenced anomalies", `env="prod"`}},
		{"alice", "silence env!=prod for 2h", []string{"only equality matchers"}},
		{"bob", "incidents", []string{"No open incidents."}},
		{"bob", "history", []string{"command.denied", "silence.created", "by slack:alice"}},
	}
	for _, c := range cases {
		got := say(r, c.user, c.line)
		for _, w := range c.want {
			if !strings.Contains(got.Text, w) {
				t.Errorf("%s %q: reply %q lacks %q", c.user, c.line, got.Text, w)
			}
		}
	}
	recs, _ := al.List(context.Background(), audit.Filter{})
	if len(recs) == 0 || recs[0].Kind != "command.denied" || recs[0].User != "slack:bob" {
		t.Fatalf("refused command not audited: %+v", recs)
	}
}

// TestRunNeedsAnotherApprover proposes by hand and checks the same policy holds for buttons.
func TestRunNeedsAnotherApprover(t *testing.T) {
	r, _ := newRouter(t)
	reply := say(r, "alice", "run echo msg=hello")
	id := strings.Fields(reply.Text)[1]
	id = strings.TrimSuffix(id, ":")
	if !strings.HasPrefix(id, "p-") {
		t.Fatalf("no proposal in %q", reply.Text)
	}
	if got := say(r, "alice", "approve "+id); !strings.Contains(got.Text, "does not let the requester approve") {
		t.Fatalf("self approval: %q", got.Text)
	}
	if got := say(r, "bob", "approve "+id); !strings.Contains(got.Text, "needs role operator") || !got.Ephemeral {
		t.Fatalf("viewer approval: %+v", got)
	}
	p, err := r.o.Proposals.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	stale := bot.Event{Kind: bot.EventButton, User: bot.User{Platform: "slack", ID: "root", Name: "root"},
		Button: bot.Button{Action: bot.ActionApprove, Value: bot.ApproveValue(id, "0123456789abcdef")}}
	if got := r.Handle(context.Background(), stale); !strings.Contains(got.Text, "not the plan 0123456789abcdef you were shown") {
		t.Fatalf("click on a card of another plan: %q", got.Text)
	}
	click := bot.Event{Kind: bot.EventButton, User: bot.User{Platform: "slack", ID: "root", Name: "root"},
		Button: bot.Button{Action: bot.ActionApprove, Value: bot.ApproveValue(id, p.PlanHash)}}
	if got := r.Handle(context.Background(), click); !strings.Contains(got.Text, id+" succeeded: said hello") {
		t.Fatalf("admin click: %q", got.Text)
	}
	if got := r.Handle(context.Background(), click); !strings.Contains(got.Text, "already succeeded") {
		t.Fatalf("second click: %q", got.Text)
	}
	if got := say(r, "bob", "proposals all"); !strings.Contains(got.Text, id+"  succeeded echo say hello") {
		t.Fatalf("proposals: %q", got.Text)
	}
	_ = time.Second
}

func TestSplit(t *testing.T) {
	cases := map[string][]string{
		`approve p-1`:                      {"approve", "p-1"},
		`  reject  p-1   "too risky now" `: {"reject", "p-1", "too risky now"},
		`query 'rate(x[5m]) > 0.5' 1h`:     {"query", "rate(x[5m]) > 0.5", "1h"},
		`run scale "asg=web count=6"`:      {"run", "scale", "asg=web count=6"},
		`say \"hi\"`:                       {"say", `"hi"`},
		"reject p-1 “smart quotes”":        {"reject", "p-1", "smart quotes"},
		`silence alertname="X",env=~"p.*"`: {"silence", `alertname=X,env=~p.*`},
	}
	for in, want := range cases {
		got, err := Split(in)
		if err != nil || strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("Split(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{`"open`, `trailing\`, "bad \xff utf8", strings.Repeat("x", maxLine+1)} {
		if _, err := Split(bad); err == nil || !obs.IsUser(err) {
			t.Errorf("Split(%q) = %v, want a user error", bad, err)
		}
	}
}

func FuzzSplit(f *testing.F) {
	for _, s := range []string{"approve p-1", `reject p-1 "why not"`, `a 'b c' d\ e`, "“x”", `\`, `"`, ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		words, err := Split(s)
		if err != nil {
			if !obs.IsUser(err) {
				t.Fatalf("Split(%q) error %v is not a user error", s, err)
			}
			return
		}
		// Each word as typed splits to itself alone: the silence command reads words as typed.
		raws, err := splitWords(s)
		if err != nil || len(raws) != len(words) {
			t.Fatalf("splitWords(%q) = %q, %v; Split gave %q", s, raws, err, words)
		}
		for i, w := range raws {
			if again, err := Split(w.raw); err != nil || len(again) != 1 || again[0] != words[i] {
				t.Fatalf("word %d of %q typed as %q splits to %q, %v; want [%q]", i, s, w.raw, again, err, words[i])
			}
		}
		straight := strings.NewReplacer("“", `"`, "”", `"`, "‘", "'", "’", "'").Replace(s)
		if !strings.ContainsAny(straight, "\"'\\") {
			if fields := strings.Fields(straight); !slices.Equal(words, fields) {
				t.Fatalf("Split(%q) = %q, want the fields %q", s, words, fields)
			}
		}
		// Quoting every word and splitting again gives the same words back.
		quoted := make([]string, len(words))
		for i, w := range words {
			quoted[i] = "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
		}
		line := strings.Join(quoted, " ")
		if len(line) > maxLine {
			return
		}
		again, err := Split(line)
		if err != nil || !slices.Equal(again, words) {
			t.Fatalf("Split(%q) = %q; its quoted form %q splits to %q, %v", s, words, line, again, err)
		}
	})
}

type queryLog struct{ got []string }

func (q *queryLog) Query(_ context.Context, promql string, rng time.Duration) (bot.Message, error) {
	q.got = append(q.got, promql+" | "+rng.String())
	return bot.Text("ok"), nil
}

// TestQueryText checks what reaches Prometheus for the ways people type a query.
func TestQueryText(t *testing.T) {
	for line, want := range map[string]string{
		`query up`:                         "up | 1h0m0s",
		`query up{job="api"} 30m`:          `up{job="api"} | 30m0s`,
		`query sum by (job) (up)`:          "sum by (job) (up) | 1h0m0s",
		`query 'rate(x[5m]) > 0.5' 1h`:     "rate(x[5m]) > 0.5 | 1h0m0s",
		`query "up{job=\"api\"}" 2h`:       `up{job="api"} | 2h0m0s`,
		"query up{job=“api”}":              `up{job="api"} | 1h0m0s`,
		"query `rate(x[5m])` 1d":           "rate(x[5m]) | 24h0m0s",
		`query up{job="a"} or up{job="b"}`: `up{job="a"} or up{job="b"} | 1h0m0s`,
		`query up{path=~"a\\.b"}`:          `up{path=~"a\\.b"} | 1h0m0s`,
		`query rate(http_total[5m]) > 0.5`: "rate(http_total[5m]) > 0.5 | 1h0m0s",
	} {
		q := &queryLog{}
		r, _ := newRouter(t)
		r.cmds["query"] = r.queryCommand()
		r.o.Querier = q
		if reply := say(r, "bob", line); reply.Text != "ok" || len(q.got) != 1 || q.got[0] != want {
			t.Errorf("%s: Prometheus got %q (reply %q), want %q", line, q.got, reply.Text, want)
		}
	}
}

// downSilencer is an Alertmanager that cannot be reached.
type downSilencer struct{}

func (downSilencer) Create(context.Context, string, time.Duration, string, string) (string, error) {
	return "", downErr
}
func (downSilencer) List(context.Context) ([]string, error) { return nil, downErr }
func (downSilencer) Expire(context.Context, string) error   { return downErr }

var downErr = fmt.Errorf("alertmanager: create silence: %w", &obs.UnavailableError{Service: "Alertmanager",
	Addr: "http://127.0.0.1:9093", Err: errors.New("connection refused")})

// TestDownIntegrationIsNamed: with Alertmanager down, `silence` and `silences` say so, naming
// it and its address, instead of "internal error".
func TestDownIntegrationIsNamed(t *testing.T) {
	st := store.NewMemory()
	al, _ := audit.New(audit.Options{Store: st})
	inc, _ := incident.New(incident.Options{Store: st})
	mg, _ := remediation.New(remediation.Options{Store: st, Audit: al,
		Actions: func(n string) (remediation.Action, bool) { return echoAction{}, n == "echo" }})
	r, err := New(Options{Incidents: inc, Proposals: mg, Audit: al, Logger: obs.Discard(), Version: "test",
		Roles: func(bot.User) []string { return []string{"operator"} }, Silencer: downSilencer{}})
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"silence alertname=HostHighCpu for 1h", "silences"} {
		got := say(r, "alice", line).Text
		if !strings.HasPrefix(got, "Alertmanager at http://127.0.0.1:9093 is unreachable: connection refused (ref ") {
			t.Errorf("%s: %q", line, got)
		}
	}
}
