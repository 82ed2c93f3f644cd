package commands

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var silenceID = regexp.MustCompile(`\bs-[0-9a-f]+\b`)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name.golden, or rewrites it under -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s:\n--- got\n%s--- want\n%s", path, got, want)
	}
}

// fakeSilencer records the matchers it is asked to silence, as Alertmanager would receive them.
type fakeSilencer struct{ created []string }

func (f *fakeSilencer) Create(_ context.Context, matchers string, d time.Duration, by, comment string) (string, error) {
	f.created = append(f.created, fmt.Sprintf("{%s} for %s by %s: %s", matchers, d, by, comment))
	return fmt.Sprintf("am-%d", len(f.created)), nil
}
func (f *fakeSilencer) List(context.Context) ([]string, error) { return nil, nil }
func (f *fakeSilencer) Expire(context.Context, string) error   { return nil }

// TestSilenceTranscript shows what a person sees for the ways the silence command is typed,
// without Alertmanager (the bot's own silences) and with it (what Alertmanager is sent).
func TestSilenceTranscript(t *testing.T) {
	now := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
	lines := []string{
		"help silence",
		"silence service=web asg=web-asg for 1h",
		"silence service=web,asg=web-asg for 1h deploy of web",
		`silence {service="web", team="a b"} for 2h`,
		`silence summary=“disk full” for 30m`,
		`silence "service=web asg=web-asg" for 1h`,
		`silence "alertname=\"Host CPU\" env=prod" for 1h as Discord sends it`,
		"silence summary=disk full for 30m",
		"silence service= asg=web-asg for 1h",
		"silence service=web service=api for 1h",
		"silence env!=prod for 2h",
		`silence alertname="HostHighCpu",instance=~"web-.*" for 2h`,
		"silence service=web 1h",
		"silence for 1h",
		"silence service=web for soon",
		"silence incident for 1h",
		"silence " + strings.Repeat("x", 200) + " for 1h",
	}
	var b strings.Builder
	for _, am := range []bool{false, true} {
		r, _ := newRouter(t)
		r.o.Now = func() time.Time { return now }
		fs := &fakeSilencer{}
		if am {
			r.o.Silencer = fs
			b.WriteString("=== with Alertmanager\n")
		} else {
			b.WriteString("=== without Alertmanager\n")
		}
		for _, line := range lines {
			if am && line == "help silence" {
				continue
			}
			n := len(fs.created)
			reply := say(r, "alice", line).Text
			// The bot's silences have random IDs and end at the real time; only their shape
			// matters here.
			if i := strings.Index(reply, " until "); i >= 0 && !am {
				reply = silenceID.ReplaceAllString(reply[:i], "s-<id>") + " until <end> by alice"
			}
			fmt.Fprintf(&b, "> %s\n%s\n", line, reply)
			for _, c := range fs.created[n:] {
				fmt.Fprintf(&b, "  [Alertmanager gets %s]\n", c)
			}
		}
	}
	golden(t, "silence", b.String())
}
