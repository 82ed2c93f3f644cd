package app

import (
	"context"
	"log/slog"

	"github.com/smartcloudops/smartcloudops/bot"
	"github.com/smartcloudops/smartcloudops/internal/obs"
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
