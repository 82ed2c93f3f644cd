package slack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	slackapi "github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/smartcloudops/smartcloudops/bot"
)

// ackTimeout bounds queueing one ack. slack-go's ack queue holds 20 acks and is written to
// whichever socket is current, so an ack can wait while the client reconnects; Slack's own
// deadline is 3s, after which it redelivers (and the redelivery is deduplicated).
const ackTimeout = 2 * time.Second

// Adapter is the Slack implementation of bot.Adapter. Create it with New.
type Adapter struct {
	o      Options
	log    *slog.Logger
	m      *metrics
	api    atomic.Pointer[slackapi.Client] // replaced by SetTokens
	seen   *dedupe
	groups *groupDirectory
	out    *outbox

	running   atomic.Bool
	connected atomic.Bool
}

var _ bot.Adapter = (*Adapter)(nil)

// New checks o and returns an Adapter. It registers the adapter's metrics with o.Registerer
// and makes no network calls; Run connects.
func New(o Options) (*Adapter, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	m, err := newMetrics(o.Registerer)
	if err != nil {
		return nil, fmt.Errorf("slack: register metrics: %w", err)
	}
	log := o.Logger.With("component", "slack")
	a := &Adapter{
		o:    o,
		log:  log,
		m:    m,
		seen: newDedupe(o.DedupeTTL, o.DedupeSize),
		out:  newOutbox(o.MaxRetries, m),
	}
	if err := a.SetTokens(o.BotToken, o.AppToken); err != nil {
		return nil, err
	}
	a.groups = &groupDirectory{
		fetch: func(ctx context.Context) ([]slackapi.UserGroup, error) {
			return a.client().GetUserGroupsContext(ctx, slackapi.GetUserGroupsOptionIncludeUsers(true))
		},
		ttl: o.GroupsTTL,
		now: o.Now,
		log: log,
	}
	return a, nil
}

// SetTokens replaces the bot and app tokens, for tokens rotated while the bot runs. Web API
// calls from now on carry the new bot token; an active Run keeps its socket, so the caller
// restarts Run to connect with the new app token.
func (a *Adapter) SetTokens(botToken, appToken string) error {
	if strings.TrimSpace(botToken) == "" || strings.TrimSpace(appToken) == "" {
		return errors.New("slack: BotToken and AppToken are required")
	}
	a.api.Store(slackapi.New(botToken,
		slackapi.OptionAppLevelToken(appToken),
		slackapi.OptionAPIURL(a.o.APIURL),
		slackapi.OptionHTTPClient(a.o.HTTPClient),
		slackapi.OptionLog(slog.NewLogLogger(a.log.Handler(), slog.LevelDebug)),
	))
	return nil
}

func (a *Adapter) client() *slackapi.Client { return a.api.Load() }

// Connected reports whether the Socket Mode connection is up.
func (a *Adapter) Connected() bool { return a.connected.Load() }

func (a *Adapter) setConnected(up bool) {
	a.connected.Store(up)
	if up {
		a.m.connected.Set(1)
	} else {
		a.m.connected.Set(0)
	}
}

// Name returns "slack".
func (a *Adapter) Name() string { return platform }

// Run connects to Slack over Socket Mode and delivers events to h until ctx ends, when it
// returns nil. It returns an error wrapping ErrUnauthorized when Slack refuses the tokens;
// other connection failures are retried with backoff. Only one Run may be active at a time.
func (a *Adapter) Run(ctx context.Context, h bot.Handler) error {
	if h == nil {
		return errors.New("slack: run: handler is nil")
	}
	if !a.running.CompareAndSwap(false, true) {
		return fmt.Errorf("slack: run: %w", ErrAlreadyRunning)
	}
	defer a.running.Store(false)

	botUser, err := a.identify(ctx)
	if err != nil {
		return err
	}

	sm := socketmode.New(a.client(),
		socketmode.OptionPingInterval(a.o.PingTimeout),
		socketmode.OptionLog(slog.NewLogLogger(a.log.Handler(), slog.LevelDebug)),
	)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()

	jobs := make(chan incoming, a.o.QueueSize)
	var workers sync.WaitGroup
	for range a.o.Workers {
		workers.Go(func() {
			for in := range jobs {
				if runCtx.Err() == nil {
					a.handle(runCtx, h, in)
				}
			}
		})
	}

	done := make(chan error, 1)
	go func() { done <- sm.RunContext(runCtx) }()

	var runErr error
loop:
	for {
		select {
		case evt := <-sm.Events:
			if in, ok := a.receive(runCtx, sm, evt, botUser); ok {
				select {
				case jobs <- in:
				case <-runCtx.Done():
				}
			}
		case runErr = <-done:
			break loop
		}
	}
	a.setConnected(false)
	cancel()
	close(jobs)
	workers.Wait()

	if ctx.Err() != nil {
		return nil
	}
	if isAuthError(runErr) {
		return fmt.Errorf("slack: socket mode: %w: %w", ErrUnauthorized, runErr)
	}
	if sc, ok := errors.AsType[slackapi.StatusCodeError](runErr); ok && sc.Code == http.StatusNotFound {
		return fmt.Errorf("slack: socket mode: %w: apps.connections.open answered 404: %w", ErrUnauthorized, runErr)
	}
	return fmt.Errorf("slack: socket mode: %w", runErr)
}

// identify asks auth.test for the bot's user ID, used to strip mentions and to ignore the
// bot's own messages. A refused token ends Run; any other failure only loses precision.
func (a *Adapter) identify(ctx context.Context) (string, error) {
	tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	res, err := a.client().AuthTestContext(tctx)
	if err != nil {
		if isAuthError(err) {
			return "", fmt.Errorf("slack: auth.test: %w: %w", ErrUnauthorized, err)
		}
		if ctx.Err() != nil {
			return "", nil
		}
		a.log.Warn("slack auth.test failed; mentions are matched without the bot's user ID", "err", err)
		return "", nil
	}
	return res.UserID, nil
}

func isAuthError(err error) bool {
	if err == nil {
		return false
	}
	if se, ok := errors.AsType[slackapi.SlackErrorResponse](err); ok {
		return authErrors[se.Err]
	}
	return authErrors[err.Error()]
}

// receive acknowledges an envelope at once and translates it. It reports false when there is
// nothing for the Handler: connection lifecycle events, duplicates, ignored events.
func (a *Adapter) receive(ctx context.Context, sm *socketmode.Client, evt socketmode.Event, botUser string) (incoming, bool) {
	start := time.Now()
	switch evt.Type {
	case socketmode.EventTypeConnecting:
		a.setConnected(false)
		a.log.Debug("slack connecting")
		return incoming{}, false
	case socketmode.EventTypeConnected:
		a.setConnected(true)
		a.log.Info("slack connected")
		return incoming{}, false
	case socketmode.EventTypeConnectionError:
		a.setConnected(false)
		if ce, ok := evt.Data.(*slackapi.ConnectionErrorEvent); ok {
			a.log.Warn("slack connection failed; retrying", "attempt", ce.Attempt, "backoff", ce.Backoff, "err", ce.ErrorObj)
		}
		return incoming{}, false
	case socketmode.EventTypeInvalidAuth:
		a.setConnected(false)
		a.log.Error("slack refused the app token")
		return incoming{}, false
	case socketmode.EventTypeIncomingError:
		if ie, ok := evt.Data.(*slackapi.IncomingEventError); ok {
			level := slog.LevelWarn
			if ctx.Err() != nil {
				level = slog.LevelDebug // the socket closes because Run is ending
			}
			a.log.Log(ctx, level, "slack socket read failed", "err", ie.ErrorObj)
		}
		return incoming{}, false
	case socketmode.EventTypeErrorWriteFailed:
		if we, ok := evt.Data.(*socketmode.ErrorWriteFailed); ok && we.Response != nil {
			a.log.Warn("slack ack not written; Slack will redeliver", "envelope_id", we.Response.EnvelopeID, "err", we.Cause)
		}
		return incoming{}, false
	case socketmode.EventTypeErrorBadMessage:
		a.ackUndecodable(ctx, sm, evt, start)
		return incoming{}, false
	case socketmode.EventTypeEventsAPI, socketmode.EventTypeSlashCommand, socketmode.EventTypeInteractive:
	default:
		return incoming{}, false
	}

	in := translate(evt, botUser, a.o.SlashCommand)
	if in.envelopeID != "" {
		a.ack(ctx, sm, in.envelopeID, in.ackPayload)
		a.m.ackDuration.Observe(time.Since(start).Seconds())
	}
	if in.dedupeKey != "" && a.seen.seen(in.dedupeKey, a.o.Now()) {
		a.m.events.WithLabelValues(kindDuplicate).Inc()
		a.log.Debug("slack redelivery dropped", "key", in.dedupeKey)
		return incoming{}, false
	}
	a.m.events.WithLabelValues(in.kind).Inc()
	return in, in.event != nil
}

func (a *Adapter) ack(ctx context.Context, sm *socketmode.Client, envelopeID string, payload any) {
	actx, cancel := context.WithTimeout(ctx, ackTimeout)
	defer cancel()
	if err := sm.AckCtx(actx, envelopeID, payload); err != nil {
		a.log.Warn("slack ack failed; Slack will redeliver", "envelope_id", envelopeID, "err", err)
	}
}

// ackUndecodable acknowledges a frame slack-go could not decode (an unknown envelope or
// event type, or a payload its stricter decoding rejects). slack-go does not ack these, and
// Slack would otherwise keep redelivering them.
func (a *Adapter) ackUndecodable(ctx context.Context, sm *socketmode.Client, evt socketmode.Event, start time.Time) {
	bad, ok := evt.Data.(*socketmode.ErrorBadMessage)
	if !ok {
		return
	}
	f, err := decodeFrame(bad.Message)
	if err != nil || f.EnvelopeID == "" {
		a.log.Warn("slack frame unreadable; not acknowledged", "cause", bad.Cause, "err", err)
		return
	}
	a.ack(ctx, sm, f.EnvelopeID, nil)
	a.m.ackDuration.Observe(time.Since(start).Seconds())
	key := "env:" + f.EnvelopeID
	if f.Payload.EventID != "" {
		key = "ev:" + f.Payload.EventID
	}
	if a.seen.seen(key, a.o.Now()) {
		a.m.events.WithLabelValues(kindDuplicate).Inc()
		return
	}
	a.m.events.WithLabelValues(kindUnknown).Inc()
	a.log.Info("slack envelope not understood; acknowledged and skipped", "envelope_id", f.EnvelopeID,
		"type", f.Type, "event_type", f.Payload.Event.Type, "cause", bad.Cause)
}

// handle runs on a worker: it completes the user's identity, calls the Handler and sends the
// reply.
func (a *Adapter) handle(ctx context.Context, h bot.Handler, in incoming) {
	ctx, cancel := context.WithTimeout(ctx, a.o.HandlerTimeout)
	defer cancel()
	ev := *in.event
	ev.User.Groups = a.groups.groups(ctx, ev.User.ID)
	reply, ok := a.call(ctx, h, ev)
	if !ok || reply.Empty() {
		return
	}
	if err := a.reply(ctx, in.route, reply); err != nil {
		a.log.Error("slack reply failed", "event_id", ev.ID, "channel", in.route.channel, "err", err)
	}
}

// call runs the Handler, turning a panic into a log record so one bad command cannot stop
// the bot.
func (a *Adapter) call(ctx context.Context, h bot.Handler, ev bot.Event) (reply bot.Message, ok bool) {
	defer func() {
		if r := recover(); r != nil {
			a.log.Error("handler panicked", "event_id", ev.ID, "panic", fmt.Sprint(r))
			ok = false
		}
	}()
	return h(ctx, ev), true
}
