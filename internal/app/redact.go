package app

import (
	"context"
	"log/slog"

	"github.com/smartcloudops/smartcloudops/bot"
	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/remediation"
)

// redactLogs makes every log record of the bot pass through the redactor that b.secret fills
// with each secret it resolves, so a remote service that quotes a token back in an error body
// cannot put it in the log.
func (b *Bot) redactLogs() {
	b.redactor = obs.NewRedactor()
	b.log = slog.New(obs.RedactHandler(b.log.Handler(), b.redactor))
}

func (b *Bot) redact(s string) string { return b.redactor.Redact(s) }

// redactMessage removes secret values from everything m shows.
func (b *Bot) redactMessage(m bot.Message) bot.Message {
	r := b.redact
	m.Title, m.Text, m.Footer = r(m.Title), r(m.Text), r(m.Footer)
	m.Fields = redactFields(m.Fields, r)
	if len(m.Sections) > 0 {
		secs := make([]bot.Section, len(m.Sections))
		for i, s := range m.Sections {
			s.Text, s.Fields = r(s.Text), redactFields(s.Fields, r)
			secs[i] = s
		}
		m.Sections = secs
	}
	if m.Image != nil {
		img := *m.Image
		img.Alt = r(img.Alt)
		m.Image = &img
	}
	return m
}

func redactFields(fs []bot.Field, r func(string) string) []bot.Field {
	if len(fs) == 0 {
		return fs
	}
	out := make([]bot.Field, len(fs))
	for i, f := range fs {
		out[i] = bot.Field{Label: r(f.Label), Value: r(f.Value)}
	}
	return out
}

// handle is the Handler the adapters call: the command router, with secrets removed from the
// reply.
func (b *Bot) handle(ctx context.Context, e bot.Event) bot.Message {
	return b.redactMessage(b.Router.Handle(ctx, e))
}

// redactingAdapter removes secret values from the cards and notes the notifier posts, which
// show action results and errors from remote services.
type redactingAdapter struct {
	bot.Adapter
	b *Bot
}

func (r redactingAdapter) Post(ctx context.Context, channel string, m bot.Message) (bot.Ref, error) {
	return r.Adapter.Post(ctx, channel, r.b.redactMessage(m))
}

func (r redactingAdapter) Update(ctx context.Context, ref bot.Ref, m bot.Message) error {
	return r.Adapter.Update(ctx, ref, r.b.redactMessage(m))
}

func (r redactingAdapter) PostThread(ctx context.Context, parent bot.Ref, m bot.Message) (bot.Ref, error) {
	return r.Adapter.PostThread(ctx, parent, r.b.redactMessage(m))
}

// Connected forwards to the adapter, for the chat link's state.
func (r redactingAdapter) Connected() bool {
	if cr, ok := r.Adapter.(connReporter); ok {
		return cr.Connected()
	}
	return true
}

// redactingAction removes secret values from what an action reports — its description, its
// result and its error — before the executor stores, audits, logs or shows any of it.
type redactingAction struct {
	remediation.Action
	b *Bot
}

func (r redactingAction) Describe(ctx context.Context, p remediation.Params) (string, error) {
	s, err := r.Action.Describe(ctx, p)
	return r.b.redact(s), r.b.redactErr(err)
}

func (r redactingAction) Execute(ctx context.Context, p remediation.Params) (remediation.Result, error) {
	res, err := r.Action.Execute(ctx, p)
	res.Summary, res.Output = r.b.redact(res.Summary), r.b.redact(res.Output)
	return res, r.b.redactErr(err)
}

// redactErr returns err with secret values removed from its text; errors.Is and errors.As
// still see the original chain.
func (b *Bot) redactErr(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if red := b.redact(msg); red != msg {
		return redactedError{msg: red, err: err}
	}
	return err
}

type redactedError struct {
	msg string
	err error
}

func (e redactedError) Error() string { return e.msg }
func (e redactedError) Unwrap() error { return e.err }
