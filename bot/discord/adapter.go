package discord

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/smartcloudops/smartcloudops/bot"
	"github.com/smartcloudops/smartcloudops/internal/obs"
)

// Options configures an Adapter. Token, ApplicationID, Logger and Registerer are required;
// the rest have defaults.
type Options struct {
	Token          string // the bot token from the developer portal; a leading "Bot " is accepted
	ApplicationID  string // the application (client) ID that owns /ops
	GuildID        string // register /ops in this guild only (instant); empty registers it globally
	PublicKey      string // hex Ed25519 key from the developer portal; enables InteractionsHandler
	DefaultChannel string // channel ID Post uses when given none

	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Now        func() time.Time // defaults to time.Now

	// HTTPClient carries every REST request; defaults to a client with a 20 s timeout.
	HTTPClient *http.Client
	// BaseURL, when set, sends every REST request to this scheme and host instead of
	// discord.com, keeping the path (/api/v9/...). Tests point it at a loopback fake.
	BaseURL string

	Workers        int           // handlers running at once; default 8
	QueueSize      int           // acknowledged interactions waiting for a worker; default 64
	HandlerTimeout time.Duration // bound on one Handler call; default 10 min (tokens last 15)
	MaxRetries     int           // retries of a rate-limited request; default 3
	MaxRetryWait   time.Duration // longest retry_after honoured; default 30 s
	OpenTimeout    time.Duration // bound on one gateway handshake; default 30 s
	// ReconnectBackoff is the wait after the first failed reconnect; it doubles up to
	// MaxReconnectBackoff. Defaults 1 s and 2 min. The first reconnect is immediate.
	ReconnectBackoff    time.Duration
	MaxReconnectBackoff time.Duration
	// SkipCommandRegistration leaves /ops alone, for apps whose commands are managed elsewhere.
	SkipCommandRegistration bool
}

func (o *Options) validate() error {
	var errs []error
	if strings.TrimSpace(strings.TrimPrefix(o.Token, "Bot ")) == "" {
		errs = append(errs, errors.New("Token is required"))
	}
	if o.ApplicationID == "" {
		errs = append(errs, errors.New("ApplicationID is required"))
	}
	if o.Logger == nil {
		errs = append(errs, errors.New("Logger is required"))
	}
	if o.Registerer == nil {
		errs = append(errs, errors.New("Registerer is required"))
	}
	if o.BaseURL != "" {
		if u, err := url.Parse(o.BaseURL); err != nil || u.Scheme == "" || u.Host == "" {
			errs = append(errs, fmt.Errorf("BaseURL %q is not an absolute URL", o.BaseURL))
		}
	}
	if o.PublicKey != "" {
		if k, err := hex.DecodeString(o.PublicKey); err != nil || len(k) != ed25519.PublicKeySize {
			errs = append(errs, fmt.Errorf("PublicKey must be %d hex-encoded bytes", ed25519.PublicKeySize))
		}
	}
	for name, v := range map[string]int{"Workers": o.Workers, "QueueSize": o.QueueSize, "MaxRetries": o.MaxRetries} {
		if v < 0 {
			errs = append(errs, fmt.Errorf("%s must not be negative", name))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("discord: %w", errors.Join(errs...))
	}
	return nil
}

func (o *Options) defaults() {
	if o.Now == nil {
		o.Now = time.Now
	}
	setDefault(&o.Workers, 8)
	setDefault(&o.QueueSize, 64)
	setDefault(&o.MaxRetries, 3)
	setDefault(&o.HandlerTimeout, 10*time.Minute)
	setDefault(&o.MaxRetryWait, 30*time.Second)
	setDefault(&o.OpenTimeout, 30*time.Second)
	setDefault(&o.ReconnectBackoff, time.Second)
	setDefault(&o.MaxReconnectBackoff, 2*time.Minute)
}

func setDefault[T int | time.Duration](v *T, d T) {
	if *v <= 0 {
		*v = d
	}
}

// Adapter is the Discord implementation of bot.Adapter. Post, Update and PostThread work
// before and during Run; interactions are delivered only while Run is active.
type Adapter struct {
	opts      Options
	log       *slog.Logger
	m         *metrics
	session   atomic.Pointer[discordgo.Session] // REST only; replaced by SetToken
	client    *http.Client
	dialer    *websocket.Dialer
	pubKey    ed25519.PublicKey
	connected atomic.Bool

	fatalCh chan error // a refusal for good, reported by any request; Run returns it

	// reidentifyWait and pause time the new Identify after op 9 with d false; tests replace them.
	reidentifyWait func() time.Duration
	pause          func(context.Context, time.Duration) error

	mu       sync.Mutex
	botToken string
	running  bool
	handler  bot.Handler
	runCtx   context.Context
	jobs     chan job
	slots    chan struct{} // one per job acknowledged and not yet finished
	inflight sync.WaitGroup
}

var _ bot.Adapter = (*Adapter)(nil)

// New checks o and builds an Adapter. It does not connect; Run does.
func New(o Options) (*Adapter, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	o.defaults()
	m, err := newMetrics(o.Registerer)
	if err != nil {
		return nil, err
	}
	a := &Adapter{
		opts:           o,
		log:            o.Logger.With(obs.KeyComponent, "discord", obs.KeyPlatform, platform),
		m:              m,
		fatalCh:        make(chan error, 1),
		reidentifyWait: randomReidentifyWait,
	}
	a.pause = a.sleep
	if o.PublicKey != "" {
		k, _ := hex.DecodeString(o.PublicKey) // checked by validate
		a.pubKey = ed25519.PublicKey(k)
	}
	client := o.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 20 * time.Second}
	}
	if o.BaseURL != "" {
		base, _ := url.Parse(o.BaseURL) // checked by validate
		next := client.Transport
		if next == nil {
			next = http.DefaultTransport
		}
		c := *client
		c.Transport = rewrite{base: base, next: next}
		client = &c
	}
	a.client = client
	a.dialer = &websocket.Dialer{Proxy: http.ProxyFromEnvironment, HandshakeTimeout: 15 * time.Second}
	if err := a.SetToken(o.Token); err != nil {
		return nil, err
	}
	return a, nil
}

// SetToken replaces the bot token, for a token rotated while the bot runs. Requests from now
// on carry the new token; an active Run keeps its gateway connection, so the caller restarts
// Run to identify with the new token.
func (a *Adapter) SetToken(token string) error {
	token = strings.TrimSpace(strings.TrimPrefix(token, "Bot "))
	if token == "" {
		return errors.New("discord: Token is required")
	}
	s, err := discordgo.New("Bot " + token)
	if err != nil {
		return fmt.Errorf("discord: new session: %w", err)
	}
	// The gateway is the adapter's own, and discordgo's 429 handling recurses without bound;
	// the adapter owns the retry policy instead.
	s.ShouldReconnectOnError = false
	s.ShouldRetryOnRateLimit = false
	s.StateEnabled = false
	s.LogLevel = -1 // discordgo logs through the standard logger; the adapter reports through slog
	s.Client = a.client
	a.mu.Lock()
	a.botToken = token
	a.mu.Unlock()
	a.session.Store(s)
	return nil
}

// token is the bot token without its "Bot " prefix.
func (a *Adapter) token() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.botToken
}

// rest is the discordgo session every REST call goes through.
func (a *Adapter) rest() *discordgo.Session { return a.session.Load() }

// Connected reports whether the gateway connection is up.
func (a *Adapter) Connected() bool { return a.connected.Load() }

func (a *Adapter) setConnected(up bool) {
	a.connected.Store(up)
	if up {
		a.m.connected.Set(1)
	} else {
		a.m.connected.Set(0)
	}
}

// Name returns "discord".
func (a *Adapter) Name() string { return platform }

// Post sends m to channel (Options.DefaultChannel when empty) and returns its Ref.
func (a *Adapter) Post(ctx context.Context, channel string, m bot.Message) (bot.Ref, error) {
	return a.post(ctx, channel, m, nil)
}

// PostThread answers parent with m as a reply: a message in the parent's channel that
// references it (message_reference), which Discord shows linked to the card. Replies work in
// every channel type the bot can post in and need no thread permissions.
func (a *Adapter) PostThread(ctx context.Context, parent bot.Ref, m bot.Message) (bot.Ref, error) {
	if err := checkRef(parent); err != nil {
		return bot.Ref{}, fmt.Errorf("post reply: %w", err)
	}
	fail := false
	return a.post(ctx, parent.Channel, m, &discordgo.MessageReference{
		MessageID:       parent.ID,
		ChannelID:       parent.Channel,
		FailIfNotExists: &fail,
	})
}

func (a *Adapter) post(ctx context.Context, channel string, m bot.Message, ref *discordgo.MessageReference) (bot.Ref, error) {
	if channel == "" {
		channel = a.opts.DefaultChannel
	}
	if channel == "" {
		return bot.Ref{}, fmt.Errorf("post: %w", ErrNoChannel)
	}
	what := "post to channel " + channel
	if m.Empty() {
		return bot.Ref{}, fmt.Errorf("%s: message is empty", what)
	}
	p, err := render(m, a.opts.Now())
	if err != nil {
		return bot.Ref{}, fmt.Errorf("%s: render: %w", what, err)
	}
	var msg *discordgo.Message
	err = a.send(ctx, what, func(opts ...discordgo.RequestOption) error {
		var err error
		msg, err = a.rest().ChannelMessageSendComplex(channel, p.messageSend(ref), opts...)
		return err
	})
	if err != nil {
		return bot.Ref{}, err
	}
	if msg == nil || msg.ID == "" {
		return bot.Ref{}, fmt.Errorf("%s: discord returned no message ID", what)
	}
	if msg.ChannelID != "" {
		channel = msg.ChannelID
	}
	return bot.Ref{Platform: platform, Channel: channel, ID: msg.ID}, nil
}

// Update replaces the message ref names with m: text, embed, buttons (removed when m has
// none) and chart.
func (a *Adapter) Update(ctx context.Context, ref bot.Ref, m bot.Message) error {
	if err := checkRef(ref); err != nil {
		return fmt.Errorf("update: %w", err)
	}
	what := "update message " + ref.ID + " in channel " + ref.Channel
	if m.Empty() {
		return fmt.Errorf("%s: message is empty", what)
	}
	p, err := render(m, a.opts.Now())
	if err != nil {
		return fmt.Errorf("%s: render: %w", what, err)
	}
	return a.send(ctx, what, func(opts ...discordgo.RequestOption) error {
		_, err := a.rest().ChannelMessageEditComplex(p.messageEdit(ref.Channel, ref.ID), opts...)
		return err
	})
}

func checkRef(r bot.Ref) error {
	if (r.Platform != "" && r.Platform != platform) || r.Channel == "" || r.ID == "" {
		return fmt.Errorf("%w: %+v", ErrInvalidRef, r)
	}
	return nil
}

// send is call plus the messages-sent metric.
func (a *Adapter) send(ctx context.Context, what string, do func(opts ...discordgo.RequestOption) error) error {
	err := a.call(ctx, what, do)
	a.m.sent.WithLabelValues(outcome(err)).Inc()
	return err
}

// fatal records a refusal for good; an active Run returns it.
func (a *Adapter) fatal(err error) {
	select {
	case a.fatalCh <- err:
	default:
	}
}
