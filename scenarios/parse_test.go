//go:build scenarios

package scenarios

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// transcriptOf turns console output into transcript lines, as the bot's reader sees them.
func transcriptOf(out string) []line {
	var lines []line
	for _, l := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		lines = append(lines, line{at: time.Now(), run: 1, text: l})
	}
	return lines
}

// TestParseConsoleGolden reads the console adapter's golden cards, as the bot prints them, so a
// change of the rendering shows here first rather than as a story that waits in vain.
func TestParseConsoleGolden(t *testing.T) {
	read := func(name string) string {
		data, err := os.ReadFile(filepath.Join("..", "bot", "console", "testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	out := "\n=== card #1 ===\n" + read("card-open.golden") +
		"Approval recorded for p-7f3a2c: 0 of 1.\n" +
		"\n=== card #1 (updated) ===\n" + read("card-succeeded.golden") +
		"  ↳ card #1: p-7f3a2c succeeded: script scale_up.sh web-asg 2 3\n    script scale_up.sh exited 0\n    scaling web-asg from 2 to 3 instances\n" +
		"\n=== card #2 ===\n" + read("card-alertmanager.golden") +
		"\n=== card #1 (updated) ===\n" + read("card-resolved.golden") +
		"No open incidents.\n"
	p := parse(transcriptOf(out))

	if len(p.cards) != 4 {
		t.Fatalf("parsed %d cards; want 4: %+v", len(p.cards), p.cards)
	}
	open, done, am, res := p.cards[0], p.cards[1], p.cards[2], p.cards[3]
	if open.Num != 1 || open.Updated || open.Severity != "CRITICAL" || open.Incident != "inc-3f2a1b" || open.Resolved() ||
		open.Title != "demo-cpu above the expected band on asg=web-asg" || !strings.HasPrefix(open.Fields["value"], "92.4% ") ||
		open.Fields["where"] != "asg=web-asg, service=web" || len(open.Props) != 0 {
		t.Errorf("open card parsed as %+v", open)
	}
	if !done.Updated || len(done.Props) != 1 {
		t.Fatalf("succeeded card parsed as %+v", done)
	}
	if p0 := done.Props[0]; p0.ID != "p-7f3a2c" || p0.What != "script scale_up.sh web-asg 2 3" ||
		p0.Rule != "demo-cpu-spike 0c1d2e3f4a5b" || !strings.HasPrefix(p0.State, "succeeded at ") {
		t.Errorf("proposal parsed as %+v", p0)
	}
	if am.Num != 2 || am.Title != "HostHighCpu: 1 of 2 firing" || am.Fields["alerts"] != "1 firing, 1 resolved" ||
		am.Fields["summary"] != "CPU above 90% for 3 minutes" || am.Incident != "inc-aa11bb" {
		t.Errorf("Alertmanager card parsed as %+v", am)
	}
	if !res.Resolved() || res.Incident != "inc-3f2a1b" || res.Severity != "INFO" || len(res.Props) != 1 || !strings.HasPrefix(res.Props[0].State, "rejected") {
		t.Errorf("resolved card parsed as %+v", res)
	}

	if len(p.threads) != 1 || p.threads[0].Num != 1 ||
		p.threads[0].Text != "p-7f3a2c succeeded: script scale_up.sh web-asg 2 3\nscript scale_up.sh exited 0\nscaling web-asg from 2 to 3 instances" {
		t.Errorf("threads parsed as %+v", p.threads)
	}
	var other []string
	lines := transcriptOf(out)
	for _, i := range p.other {
		other = append(other, lines[i].text)
	}
	if strings.Join(other, "|") != "Approval recorded for p-7f3a2c: 0 of 1.|No open incidents." {
		t.Errorf("replies parsed as %q", other)
	}
}

// TestParseConsoleUpdates reads the console adapter's golden run of one-line edits: each edit is
// the card as it now reads, so stories see proposals approved and run, and the card resolved.
func TestParseConsoleUpdates(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "bot", "console", "testdata", "updates.golden"))
	if err != nil {
		t.Fatal(err)
	}
	p := parse(transcriptOf(string(data)))
	if len(p.cards) < 7 {
		t.Fatalf("parsed %d cards; want the card and its 6 edits", len(p.cards))
	}
	last := p.cards[len(p.cards)-1]
	pr, ok := last.proposal("p-7f3a2c")
	if !last.Updated || !last.Resolved() || last.Incident != "inc-3f2a1b" || last.Severity != "INFO" || !ok ||
		!strings.HasPrefix(pr.State, "succeeded at ") || pr.Rule != "demo-cpu-spike 0c1d2e3f4a5b" ||
		pr.What != "script scale_up.sh web-asg 2 3" || !strings.HasPrefix(last.Fields["value"], "36.5% at the end") {
		t.Errorf("the card after its edits parsed as %+v", last)
	}
	if first := p.cards[0]; first.Updated || first.Resolved() || len(first.Props) != 0 {
		t.Errorf("the first print of the card changed with its edits: %+v", first)
	}
}
