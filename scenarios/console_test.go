//go:build scenarios

package scenarios

import (
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// line is one line the bot printed on its console, with when the test read it and which run of
// the bot printed it (1 for the first start, 2 after a restart, ...).
type line struct {
	at   time.Time
	run  int
	text string
}

// transcript keeps everything the bot printed, across restarts, so a failure shows all of it
// and waits can look at any part of it.
type transcript struct {
	mu      sync.Mutex
	lines   []line
	changed chan struct{} // closed at the next append
}

func newTranscript() *transcript { return &transcript{changed: make(chan struct{})} }

func (tr *transcript) add(run int, text string) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.lines = append(tr.lines, line{at: time.Now(), run: run, text: text})
	close(tr.changed)
	tr.changed = make(chan struct{})
}

// snapshot returns the lines so far and a channel closed when the next one arrives.
func (tr *transcript) snapshot() ([]line, <-chan struct{}) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.lines[:len(tr.lines):len(tr.lines)], tr.changed
}

func (tr *transcript) len() int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return len(tr.lines)
}

// String is the whole transcript, each line prefixed with its time and run.
func (tr *transcript) String() string {
	lines, _ := tr.snapshot()
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l.at.UTC().Format("15:04:05.000"))
		b.WriteString(" [" + strconv.Itoa(l.run) + "] ")
		b.WriteString(l.text)
		b.WriteByte('\n')
	}
	return b.String()
}

// card is one card as the console prints it: posted ("=== card #3 ===") or edited in place
// ("=== card #3 (updated) ===").
type card struct {
	Num      int
	Updated  bool
	At       time.Time // when its last line was read
	Run      int
	Index    int // index of its header in the transcript
	Title    string
	Severity string            // from "[CRITICAL] ..."; empty when the title has none
	Fields   map[string]string // the card's own "label: value" lines
	Footer   string            // inside the final "(...)"
	Incident string            // the incident the footer names
	Props    []proposal
	Lines    []string
}

// Resolved reports whether the card shows a resolved incident.
func (c card) Resolved() bool { return strings.HasPrefix(c.Title, "Resolved: ") }

// proposal is one proposal section of a card.
type proposal struct {
	ID    string
	What  string // what it runs, such as "script record.sh web 2"
	Rule  string // rule name and version
	State string
}

// thread is a reply posted in a card's thread ("  ↳ card #3: p-1 succeeded: ...").
type thread struct {
	Num  int
	At   time.Time
	Run  int
	Text string // the first line after "card #N: ", continuation lines joined with "\n"
}

var (
	cardHeader = regexp.MustCompile(`^=== card #(\d+)( \(updated\))? ===$`)
	cardFooter = regexp.MustCompile(`^  \((.*)\)$`)
	threadHead = regexp.MustCompile(`^  ↳ card #(\d+): (.*)$`)
	updateHead = regexp.MustCompile(`^  ↻ card #(\d+): (.*)$`)
	propChange = regexp.MustCompile(`^Proposal (p-\S+)(?:: (.*?))?(?: — (.*))?$`)
	propFields = regexp.MustCompile(`(?:^|, )(rule|state|needs|result|error|settled): `)
	severityOf = regexp.MustCompile(`^\[([A-Z]+)\] (.*)$`)
	footerInc  = regexp.MustCompile(`^incident (\S+)`)
	propHead   = regexp.MustCompile(`^  Proposal (p-\S+): (.*)$`)
)

// parsed is the transcript split into cards, thread replies and the other lines (command
// replies and anything else).
type parsed struct {
	cards   []card
	threads []thread
	other   []int // transcript indexes of lines outside cards and threads
}

func parse(lines []line) parsed {
	var p parsed
	var cur *card
	inThread := false
	for i, l := range lines {
		if m := cardHeader.FindStringSubmatch(l.text); m != nil {
			if cur != nil { // a card cut short (the bot stopped mid-write): keep what there is
				p.cards = append(p.cards, *cur)
			}
			n, _ := strconv.Atoi(m[1])
			cur = &card{Num: n, Updated: m[2] != "", At: l.at, Run: l.run, Index: i, Fields: map[string]string{}}
			inThread = false
			continue
		}
		if cur != nil {
			cur.Lines = append(cur.Lines, l.text)
			cur.At = l.at
			if m := cardFooter.FindStringSubmatch(l.text); m != nil {
				cur.Footer = m[1]
				if im := footerInc.FindStringSubmatch(cur.Footer); im != nil {
					cur.Incident = im[1]
				}
				p.cards = append(p.cards, *cur)
				cur = nil
				continue
			}
			cardLine(cur, l.text)
			continue
		}
		if m := updateHead.FindStringSubmatch(l.text); m != nil {
			// An edit the console prints as one line of what changed: the card as it now reads is
			// the last one printed with that number, with the changes applied.
			n, _ := strconv.Atoi(m[1])
			for j := len(p.cards) - 1; j >= 0; j-- {
				if p.cards[j].Num == n {
					c := p.cards[j].clone()
					c.Updated, c.At, c.Run, c.Index = true, l.at, l.run, i
					c.Lines = append(c.Lines, l.text)
					applyChanges(&c, m[2])
					p.cards = append(p.cards, c)
					break
				}
			}
			inThread = false
			continue
		}
		if m := threadHead.FindStringSubmatch(l.text); m != nil {
			n, _ := strconv.Atoi(m[1])
			p.threads = append(p.threads, thread{Num: n, At: l.at, Run: l.run, Text: m[2]})
			inThread = true
			continue
		}
		if inThread && strings.HasPrefix(l.text, "    ") {
			p.threads[len(p.threads)-1].Text += "\n" + strings.TrimPrefix(l.text, "    ")
			continue
		}
		inThread = false
		if l.text != "" {
			p.other = append(p.other, i)
		}
	}
	if cur != nil {
		p.cards = append(p.cards, *cur)
	}
	return p
}

// cardLine reads one line of a card's body into c.
func cardLine(c *card, text string) {
	switch {
	case c.Title == "" && len(c.Lines) == 1:
		c.Title = text
		if m := severityOf.FindStringSubmatch(text); m != nil {
			c.Severity, c.Title = m[1], m[2]
		}
	case propHead.MatchString(text):
		m := propHead.FindStringSubmatch(text)
		c.Props = append(c.Props, proposal{ID: m[1], What: m[2]})
	case strings.HasPrefix(text, "    ") && len(c.Props) > 0:
		k, v, ok := strings.Cut(strings.TrimSpace(text), ": ")
		last := &c.Props[len(c.Props)-1]
		switch {
		case ok && k == "rule":
			last.Rule = v
		case ok && k == "state":
			last.State = v
		}
	case strings.HasPrefix(text, "  ") && !strings.HasPrefix(text, "   "):
		if k, v, ok := strings.Cut(strings.TrimSpace(text), ": "); ok {
			c.Fields[k] = v
		}
	}
}

// proposal returns the card's proposal with the given ID.
func (c card) proposal(id string) (proposal, bool) {
	for _, p := range c.Props {
		if p.ID == id {
			return p, true
		}
	}
	return proposal{}, false
}

// clone copies a card so that changes to the copy leave the original alone.
func (c card) clone() card {
	c.Fields = maps.Clone(c.Fields)
	c.Props = slices.Clone(c.Props)
	c.Lines = slices.Clone(c.Lines)
	return c
}

// applyChanges applies one console update line ("part · part · ...") to c: a new title, changed
// fields, a new or changed proposal, a new footer.
func applyChanges(c *card, line string) {
	for _, part := range strings.Split(line, " · ") {
		switch {
		case severityOf.MatchString(part):
			m := severityOf.FindStringSubmatch(part)
			c.Severity, c.Title = m[1], m[2]
		case strings.HasPrefix(part, "Proposal p-"):
			m := propChange.FindStringSubmatch(part)
			if m == nil {
				continue
			}
			i := slices.IndexFunc(c.Props, func(p proposal) bool { return p.ID == m[1] })
			if i < 0 {
				c.Props = append(c.Props, proposal{ID: m[1]})
				i = len(c.Props) - 1
			}
			rest := m[2]
			if m[3] != "" {
				rest += ", " + m[3]
			}
			what, fields := splitPropFields(rest)
			if what != "" {
				c.Props[i].What = what
			}
			if v, ok := fields["rule"]; ok {
				c.Props[i].Rule = v
			}
			if v, ok := fields["state"]; ok {
				c.Props[i].State = v
			}
		case strings.HasPrefix(part, "(") && strings.HasSuffix(part, ")"):
			c.Footer = strings.TrimSuffix(strings.TrimPrefix(part, "("), ")")
			if im := footerInc.FindStringSubmatch(c.Footer); im != nil {
				c.Incident = im[1]
			}
		case strings.HasPrefix(part, "type "):
		default:
			if k, v, ok := strings.Cut(part, ": "); ok {
				c.Fields[k] = v
			}
		}
	}
}

// splitPropFields splits "what, rule: x, state: y" into what and the known fields.
func splitPropFields(s string) (string, map[string]string) {
	fields := map[string]string{}
	locs := propFields.FindAllStringSubmatchIndex(s, -1)
	if len(locs) == 0 {
		return strings.TrimSuffix(s, ", "), fields
	}
	what := s[:locs[0][0]]
	for i, loc := range locs {
		end := len(s)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		fields[s[loc[2]:loc[3]]] = s[loc[1]:end]
	}
	return what, fields
}
