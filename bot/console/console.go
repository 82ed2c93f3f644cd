// Package console is the terminal adapter at the chat end of the flow: cards and replies are
// printed as plain text on standard output, and every line read from standard input is a command,
// so it works in a terminal and under a pipe alike. It is the embedded default's chat platform.
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
)

// Options configures the console adapter. In and Out are required.
type Options struct {
	In     io.Reader
	Out    io.Writer
	User   string // who typed commands come from
	Logger *slog.Logger
}

// Adapter is the console bot.Adapter.
type Adapter struct {
	o   Options
	log *slog.Logger

	mu  sync.Mutex // serialises output and numbering
	seq int
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
	return &Adapter{o: o, log: o.Logger.With(obs.KeyComponent, "console")}, nil
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
func (a *Adapter) Post(_ context.Context, channel string, m bot.Message) (bot.Ref, error) {
	a.mu.Lock()
	a.seq++
	id := strconv.Itoa(a.seq)
	a.mu.Unlock()
	a.write(fmt.Sprintf("\n=== card #%s ===\n%s", id, Render(m)))
	return bot.Ref{Platform: "console", Channel: channel, ID: id}, nil
}

// Update implements bot.Adapter: the whole card is printed again, marked as an update.
func (a *Adapter) Update(_ context.Context, ref bot.Ref, m bot.Message) error {
	a.write(fmt.Sprintf("\n=== card #%s (updated) ===\n%s", ref.ID, Render(m)))
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
	if m.Title != "" {
		if m.Severity != "" {
			fmt.Fprintf(&b, "[%s] ", strings.ToUpper(string(m.Severity)))
		}
		b.WriteString(m.Title)
		b.WriteByte('\n')
	}
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

func fields(b *strings.Builder, fs []bot.Field, indent string) {
	for _, f := range fs {
		fmt.Fprintf(b, "%s%s: %s\n", indent, f.Label, f.Value)
	}
}
