// Package console is the terminal adapter at the chat end of the flow: cards and replies are
// printed as plain text on standard output, and every line read from standard input is a command,
// so it works in a terminal and under a pipe alike. It is the embedded default's chat platform.
//
// A card is printed whole once, under its number; an edit prints one line under that number
// with only what changed (see Update). Card numbers come from a counter kept in the store, so
// they stay unique across restarts.
package console

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"

	"github.com/smartcloudops/smartcloudops/bot"
	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/internal/store"
)

// Options configures the console adapter. In and Out are required.
type Options struct {
	In   io.Reader
	Out  io.Writer
	User string // who typed commands come from
	// Store keeps the last card number, so numbers go on after a restart instead of starting
	// at #1 again. Without it numbering starts at #1 in each process.
	Store  store.Store
	Logger *slog.Logger
}

// seqKey holds the number of the last card printed.
const seqKey = "console/last-card"

// shownMax bounds how many cards' last text Update remembers to print only what changed.
const shownMax = 1024

// Adapter is the console bot.Adapter.
type Adapter struct {
	o   Options
	log *slog.Logger

	mu    sync.Mutex // serialises output and numbering
	seq   int
	shown map[string]bot.Message // the last text of each card, by number
	order []string               // card numbers in shown, oldest first
}

// New returns a console Adapter.
func New(o Options) (*Adapter, error) {
	if o.In == nil || o.Out == nil {
		return nil, fmt.Errorf("console: In and Out are required")
	}
	if o.User == "" {
		o.User = "operator"
	}
	if o.Logger == nil {
		o.Logger = obs.Discard()
	}
	return &Adapter{o: o, log: o.Logger.With(obs.KeyComponent, "console"), shown: map[string]bot.Message{}}, nil
}

// Name implements bot.Adapter.
func (a *Adapter) Name() string { return "console" }

// User is the identity of whoever types at this console.
func (a *Adapter) User() bot.User {
	return bot.User{Platform: "console", ID: a.o.User, Name: a.o.User}
}

// Run reads commands line by line until ctx ends. At the end of input it keeps the bot running.
func (a *Adapter) Run(ctx context.Context, h bot.Handler) error {
	lines := make(chan string)
	go a.read(ctx, lines)
	n := 0
	for {
		select {
		case <-ctx.Done():
			return nil
		case line, ok := <-lines:
			if !ok {
				lines = nil // input ended: stay up for cards until ctx ends
				continue
			}
			if line == tooLong {
				a.write(fmt.Sprintf("That line is longer than %d KiB and was ignored.\n", maxLine/1024))
				continue
			}
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			n++
			reply := h(ctx, bot.Event{Kind: bot.EventCommand, ID: "line-" + strconv.Itoa(n), User: a.User(), Channel: "console", Text: line})
			if !reply.Empty() {
				a.write(Render(reply))
			}
		}
	}
}

// maxLine is the longest input line taken as a command; the command router refuses far shorter
// ones, so the limit only stops a runaway paste from growing memory.
const maxLine = 64 * 1024

// tooLong stands for a line over maxLine on the lines channel; input lines never contain "\n".
const tooLong = "\n"

// read sends In's lines until it ends or fails, then closes lines. A line over maxLine is
// skipped to its end and reported as tooLong, and reading carries on after it.
func (a *Adapter) read(ctx context.Context, lines chan<- string) {
	defer close(lines)
	r := bufio.NewReaderSize(a.o.In, maxLine)
	for {
		b, isPrefix, err := r.ReadLine()
		if err != nil {
			a.inputEnded(err)
			return
		}
		line := string(b)
		if isPrefix {
			for isPrefix && err == nil {
				_, isPrefix, err = r.ReadLine()
			}
			line = tooLong
		}
		select {
		case lines <- line:
		case <-ctx.Done():
			return
		}
		if err != nil {
			a.inputEnded(err)
			return
		}
	}
}

// inputEnded logs why In stopped, unless it simply ended.
func (a *Adapter) inputEnded(err error) {
	if err != io.EOF {
		a.log.Warn("console input failed; commands are no longer read", obs.KeyErr, err)
	}
}

func (a *Adapter) write(s string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	fmt.Fprint(a.o.Out, s)
}

// Post implements bot.Adapter: the card is printed with its number.
func (a *Adapter) Post(ctx context.Context, channel string, m bot.Message) (bot.Ref, error) {
	n, err := a.next(ctx)
	if err != nil {
		return bot.Ref{}, err
	}
	id := strconv.Itoa(n)
	a.mu.Lock()
	a.remember(id, m)
	a.mu.Unlock()
	a.write(fmt.Sprintf("\n=== card #%s ===\n%s", id, Render(m)))
	return bot.Ref{Platform: "console", Channel: channel, ID: id}, nil
}

// next returns the next card number: one more than the last, which the store keeps when there
// is one.
func (a *Adapter) next(ctx context.Context) (int, error) {
	if a.o.Store == nil {
		a.mu.Lock()
		defer a.mu.Unlock()
		a.seq++
		return a.seq, nil
	}
	var n int
	_, err := store.Modify(ctx, a.o.Store, seqKey, func(old []byte) ([]byte, error) {
		last := 0
		if old != nil {
			v, err := strconv.Atoi(string(old))
			if err != nil {
				return nil, fmt.Errorf("console: card counter %q in the store: %w", old, err)
			}
			last = v
		}
		n = last + 1
		return []byte(strconv.Itoa(n)), nil
	})
	if err != nil {
		return 0, fmt.Errorf("console: number a card: %w", err)
	}
	return n, nil
}

// remember keeps m as what card id shows now. a.mu must be held.
func (a *Adapter) remember(id string, m bot.Message) {
	if _, ok := a.shown[id]; !ok {
		a.order = append(a.order, id)
		if len(a.order) > shownMax {
			delete(a.shown, a.order[0])
			a.order = a.order[1:]
		}
	}
	a.shown[id] = m
}

// Update implements bot.Adapter: one line under the card's number says what changed since it
// was last printed (a new title, changed fields, a proposal's new state, the commands to type
// for new buttons). A card this process has not printed is printed whole, marked as updated.
func (a *Adapter) Update(_ context.Context, ref bot.Ref, m bot.Message) error {
	a.mu.Lock()
	prev, known := a.shown[ref.ID]
	a.remember(ref.ID, m)
	a.mu.Unlock()
	if !known {
		a.write(fmt.Sprintf("\n=== card #%s (updated) ===\n%s", ref.ID, Render(m)))
		return nil
	}
	if line := Changes(prev, m); line != "" {
		a.write(fmt.Sprintf("  ↻ card #%s: %s\n", ref.ID, line))
	}
	return nil
}

// PostThread implements bot.Adapter: the reply is printed indented under the card's number.
func (a *Adapter) PostThread(_ context.Context, parent bot.Ref, m bot.Message) (bot.Ref, error) {
	body := strings.TrimRight(Render(m), "\n")
	a.write(fmt.Sprintf("  ↳ card #%s: %s\n", parent.ID, strings.ReplaceAll(body, "\n", "\n    ")))
	return parent, nil
}

// Render formats a message as plain text.
func Render(m bot.Message) string {
	var b strings.Builder
	b.WriteString(heading(m))
	if m.Text != "" {
		b.WriteString(m.Text)
		b.WriteByte('\n')
	}
	fields(&b, m.Fields, "  ")
	if m.Image != nil && m.Image.Path != "" {
		fmt.Fprintf(&b, "  chart: %s\n", m.Image.Path)
	}
	for _, s := range m.Sections {
		if s.Text != "" {
			fmt.Fprintf(&b, "  %s\n", s.Text)
		}
		fields(&b, s.Fields, "    ")
		if len(s.Buttons) > 0 {
			var typed []string
			for _, btn := range s.Buttons {
				typed = append(typed, fmt.Sprintf("%q", btn.Typed()))
			}
			fmt.Fprintf(&b, "    type %s\n", strings.Join(typed, " or "))
		}
	}
	if m.Footer != "" {
		fmt.Fprintf(&b, "  (%s)\n", m.Footer)
	}
	return b.String()
}

// heading is the card's title line with its severity, "[CRITICAL] cpu above …\n"; "" without
// a title.
func heading(m bot.Message) string {
	if m.Title == "" {
		return ""
	}
	if m.Severity != "" {
		return fmt.Sprintf("[%s] %s\n", strings.ToUpper(string(m.Severity)), m.Title)
	}
	return m.Title + "\n"
}

func fields(b *strings.Builder, fs []bot.Field, indent string) {
	for _, f := range fs {
		fmt.Fprintf(b, "%s%s: %s\n", indent, f.Label, f.Value)
	}
}
