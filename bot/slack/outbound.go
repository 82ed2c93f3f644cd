package slack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	slackapi "github.com/slack-go/slack"

	"github.com/smartcloudops/smartcloudops/bot"
)

// outbox paces calls per key (a channel and a kind of call) and retries HTTP 429 answers
// after their Retry-After. Calls with one key run one at a time, in arrival order as far as
// the scheduler allows, and at least the key's interval apart.
type outbox struct {
	maxRetries int
	m          *metrics

	mu    sync.Mutex
	lanes map[string]*lane
}

type lane struct {
	slot  chan struct{} // holds one token while a call of this lane runs or waits its turn
	next  time.Time     // earliest start of the next call; guarded by slot
	users int           // callers holding or waiting for the lane; guarded by outbox.mu
}

// maxIdleLanes is how many lanes may exist before idle ones are dropped.
const maxIdleLanes = 1024

func newOutbox(maxRetries int, m *metrics) *outbox {
	return &outbox{maxRetries: maxRetries, m: m, lanes: map[string]*lane{}}
}

func (o *outbox) acquire(key string) *lane {
	o.mu.Lock()
	defer o.mu.Unlock()
	l := o.lanes[key]
	if l == nil {
		if len(o.lanes) >= maxIdleLanes {
			now := time.Now()
			for k, old := range o.lanes {
				if old.users == 0 && now.After(old.next) {
					delete(o.lanes, k)
				}
			}
		}
		l = &lane{slot: make(chan struct{}, 1)}
		o.lanes[key] = l
	}
	l.users++
	return l
}

func (o *outbox) release(l *lane) {
	o.mu.Lock()
	defer o.mu.Unlock()
	l.users--
}

// do runs op in lane key, no sooner than interval after the lane's previous call, retrying
// rate-limited answers. It blocks until op succeeded, failed for good, or ctx ended.
func (o *outbox) do(ctx context.Context, key string, interval time.Duration, op func(context.Context) error) error {
	l := o.acquire(key)
	defer o.release(l)
	select {
	case l.slot <- struct{}{}:
	case <-ctx.Done():
		o.m.sent.WithLabelValues(outcomeCanceled).Inc()
		return ctx.Err()
	}
	defer func() { <-l.slot }()

	for attempt := 0; ; attempt++ {
		if err := sleepUntil(ctx, l.next); err != nil {
			o.m.sent.WithLabelValues(outcomeCanceled).Inc()
			return err
		}
		err := op(ctx)
		l.next = time.Now().Add(interval)
		if rl, ok := errors.AsType[*slackapi.RateLimitedError](err); ok {
			o.m.rateLimited.Inc()
			if attempt < o.maxRetries {
				wait := rl.RetryAfter
				if wait <= 0 {
					wait = time.Second
				}
				l.next = time.Now().Add(max(wait, interval))
				continue
			}
		}
		switch {
		case err == nil:
			o.m.sent.WithLabelValues(outcomeOK).Inc()
		case ctx.Err() != nil:
			o.m.sent.WithLabelValues(outcomeCanceled).Inc()
		default:
			o.m.sent.WithLabelValues(outcomeError).Inc()
		}
		return err
	}
}

func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Post sends m to channel (Options.DefaultChannel when empty) and returns its Ref. It waits
// for the channel's pace and retries rate-limited calls, so it blocks until the message is
// sent or ctx ends. A message with an image is posted first and the PNG is then uploaded into
// its thread; if only the upload fails, Post returns the card's Ref and an error wrapping
// ErrImageUpload.
func (a *Adapter) Post(ctx context.Context, channel string, m bot.Message) (bot.Ref, error) {
	if channel == "" {
		channel = a.o.DefaultChannel
	}
	if channel == "" {
		return bot.Ref{}, fmt.Errorf("slack: post: %w", ErrNoChannel)
	}
	return a.post(ctx, channel, "", m)
}

// PostThread posts m as a reply in the thread of parent.
func (a *Adapter) PostThread(ctx context.Context, parent bot.Ref, m bot.Message) (bot.Ref, error) {
	if err := checkRef(parent); err != nil {
		return bot.Ref{}, fmt.Errorf("slack: post thread: %w", err)
	}
	return a.post(ctx, parent.Channel, parent.ID, m)
}

// Update replaces the message ref with m in place (chat.update). Images are not changed:
// the chart posted with a card stays in its thread.
func (a *Adapter) Update(ctx context.Context, ref bot.Ref, m bot.Message) error {
	if err := checkRef(ref); err != nil {
		return fmt.Errorf("slack: update: %w", err)
	}
	if m.Empty() {
		return fmt.Errorf("slack: update %s in %s: %w", ref.ID, ref.Channel, ErrEmptyMessage)
	}
	p := render(m, renderOptions{})
	err := a.out.do(ctx, "update:"+ref.Channel, a.o.UpdateInterval, func(ctx context.Context) error {
		_, _, _, err := a.client().UpdateMessageContext(ctx, ref.Channel, ref.ID,
			slackapi.MsgOptionText(p.Text, false), slackapi.MsgOptionBlocks(p.Blocks...))
		return err
	})
	if err != nil {
		return fmt.Errorf("slack: update %s in %s: %w", ref.ID, ref.Channel, err)
	}
	return nil
}

func checkRef(r bot.Ref) error {
	if r.Platform != "" && r.Platform != platform {
		return fmt.Errorf("message ref belongs to %q, not slack", r.Platform)
	}
	if r.Channel == "" || r.ID == "" {
		return fmt.Errorf("message ref %+v lacks a channel or ts", r)
	}
	return nil
}

func (a *Adapter) post(ctx context.Context, channel, threadTS string, m bot.Message) (bot.Ref, error) {
	if m.Empty() {
		return bot.Ref{}, fmt.Errorf("slack: post to %s: %w", channel, ErrEmptyMessage)
	}
	withImage := m.Image != nil && len(m.Image.PNG) > 0
	p := render(m, renderOptions{imageAsText: m.Image != nil && !withImage})
	opts := []slackapi.MsgOption{slackapi.MsgOptionText(p.Text, false), slackapi.MsgOptionBlocks(p.Blocks...)}
	if threadTS != "" {
		opts = append(opts, slackapi.MsgOptionTS(threadTS))
	}
	var ch, ts string
	err := a.out.do(ctx, "post:"+channel, a.o.MessageInterval, func(ctx context.Context) error {
		var err error
		ch, ts, err = a.client().PostMessageContext(ctx, channel, opts...)
		return err
	})
	if err != nil {
		return bot.Ref{}, fmt.Errorf("slack: post to %s: %w", channel, err)
	}
	if ch == "" {
		ch = channel
	}
	ref := bot.Ref{Platform: platform, Channel: ch, ID: ts}
	if withImage {
		thread := threadTS
		if thread == "" {
			thread = ts
		}
		if err := a.upload(ctx, ch, thread, m.Image); err != nil {
			return ref, fmt.Errorf("slack: post to %s: %w: %w", channel, ErrImageUpload, err)
		}
	}
	return ref, nil
}

// upload sends img into the thread with files upload v2 (getUploadURLExternal, the upload,
// completeUploadExternal). It shares the channel's lane because completing the upload posts
// a message there.
func (a *Adapter) upload(ctx context.Context, channel, threadTS string, img *bot.Image) error {
	name := img.Name
	if name == "" {
		name = "chart.png"
	}
	return a.out.do(ctx, "post:"+channel, a.o.MessageInterval, func(ctx context.Context) error {
		_, err := a.client().UploadFileContext(ctx, slackapi.UploadFileParameters{
			Reader:          bytes.NewReader(img.PNG),
			FileSize:        len(img.PNG),
			Filename:        name,
			Title:           name,
			AltTxt:          img.Alt,
			Channel:         channel,
			ThreadTimestamp: threadTS,
		})
		return err
	})
}

// reply sends a Handler's reply along r. Slash commands and button clicks answer through
// their response_url, only to the person who acted (a slash command's reply with a chart is
// posted in the channel instead, since an ephemeral message cannot carry the image); other
// replies with an image, or without a response_url, use the Web API, ephemerally
// (chat.postEphemeral) when asked or for a button click.
func (a *Adapter) reply(ctx context.Context, r route, m bot.Message) error {
	withImage := m.Image != nil && len(m.Image.PNG) > 0
	ephemeral := r.forceEphem || m.Ephemeral || (r.slash && !withImage)
	switch {
	case r.responseURL != "" && (ephemeral || !withImage):
		p := render(m, renderOptions{imageAsText: m.Image != nil})
		kind := slackapi.ResponseTypeInChannel
		if ephemeral {
			kind = slackapi.ResponseTypeEphemeral
		}
		return a.out.do(ctx, "response:"+r.responseURL, 0, func(ctx context.Context) error {
			_, _, err := a.client().PostMessageContext(ctx, "", slackapi.MsgOptionResponseURL(r.responseURL, kind),
				slackapi.MsgOptionText(p.Text, false), slackapi.MsgOptionBlocks(p.Blocks...))
			return err
		})
	case ephemeral && r.user != "" && r.channel != "":
		p := render(m, renderOptions{imageAsText: m.Image != nil})
		opts := []slackapi.MsgOption{slackapi.MsgOptionText(p.Text, false), slackapi.MsgOptionBlocks(p.Blocks...)}
		if r.threadTS != "" {
			opts = append(opts, slackapi.MsgOptionTS(r.threadTS))
		}
		return a.out.do(ctx, "post:"+r.channel, a.o.MessageInterval, func(ctx context.Context) error {
			_, err := a.client().PostEphemeralContext(ctx, r.channel, r.user, opts...)
			return err
		})
	case r.channel != "":
		_, err := a.post(ctx, r.channel, r.threadTS, m)
		return err
	}
	return errors.New("reply has nowhere to go: no response_url and no channel")
}
