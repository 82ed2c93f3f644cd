package slack

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultAPIURL is Slack's Web API base URL.
const DefaultAPIURL = "https://slack.com/api/"

// Options configures an Adapter. BotToken, AppToken, Logger and Registerer are required;
// zero values of the rest select the documented defaults.
type Options struct {
	// BotToken is the bot token (xoxb-…) used for the Web API.
	BotToken string
	// AppToken is the app-level token (xapp-…) with connections:write, used only to open
	// Socket Mode connections.
	AppToken string
	// APIURL is the Web API base URL; it must end with "/". Defaults to DefaultAPIURL.
	APIURL string

	Logger     *slog.Logger
	Registerer prometheus.Registerer

	// Workers is how many events are handled at once; defaults to 8.
	Workers int
	// QueueSize is how many acknowledged events may wait for a worker; defaults to 1024.
	// When it is full the adapter stops reading the socket until a worker is free.
	QueueSize int
	// HandlerTimeout bounds one event: the Handler call and sending its reply. Defaults to
	// 2 minutes.
	HandlerTimeout time.Duration

	// DefaultChannel is where Post sends messages that name no channel.
	DefaultChannel string
	// SlashCommand is the command the adapter answers; defaults to "/ops".
	SlashCommand string

	// MessageInterval is the least time between two messages to one channel; defaults to 1s,
	// Slack's rate for chat.postMessage per channel.
	MessageInterval time.Duration
	// UpdateInterval is the least time between two edits in one channel; defaults to 250ms
	// (chat.update is Tier 3, about 50 a minute, with bursts).
	UpdateInterval time.Duration
	// MaxRetries is how often a call answered with HTTP 429 is retried after its Retry-After;
	// defaults to 3. Set a negative value for no retries.
	MaxRetries int

	// GroupsTTL is how long the user group list is cached; defaults to 5 minutes.
	GroupsTTL time.Duration
	// DedupeTTL is how long an event_id is remembered; defaults to 10 minutes, longer than
	// Slack's last retry (about 5 minutes after the first delivery).
	DedupeTTL time.Duration
	// DedupeSize caps how many event IDs are remembered; defaults to 10000.
	DedupeSize int

	// PingTimeout is how long the connection may go without a ping from Slack before it is
	// re-opened; defaults to 30s (Slack pings about every 10s).
	PingTimeout time.Duration
	// HTTPClient is used for the Web API; defaults to a client with a 30s timeout.
	HTTPClient *http.Client
	// Now is the clock for caches and deduplication; defaults to time.Now.
	Now func() time.Time
}

// withDefaults validates o and fills in defaults. It reports every problem at once.
func (o Options) withDefaults() (Options, error) {
	var errs []error
	if strings.TrimSpace(o.BotToken) == "" {
		errs = append(errs, errors.New("BotToken is required"))
	}
	if strings.TrimSpace(o.AppToken) == "" {
		errs = append(errs, errors.New("AppToken is required"))
	}
	if o.Logger == nil {
		errs = append(errs, errors.New("Logger is required"))
	}
	if o.Registerer == nil {
		errs = append(errs, errors.New("Registerer is required"))
	}
	if o.APIURL == "" {
		o.APIURL = DefaultAPIURL
	}
	if u, err := url.Parse(o.APIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("APIURL %q is not an http(s) URL", o.APIURL))
	} else if !strings.HasSuffix(o.APIURL, "/") {
		errs = append(errs, fmt.Errorf("APIURL %q must end with \"/\"", o.APIURL))
	}
	if o.SlashCommand == "" {
		o.SlashCommand = "/ops"
	} else if !strings.HasPrefix(o.SlashCommand, "/") {
		errs = append(errs, fmt.Errorf("SlashCommand %q must start with \"/\"", o.SlashCommand))
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"HandlerTimeout", &o.HandlerTimeout, 2 * time.Minute},
		{"MessageInterval", &o.MessageInterval, time.Second},
		{"UpdateInterval", &o.UpdateInterval, 250 * time.Millisecond},
		{"GroupsTTL", &o.GroupsTTL, 5 * time.Minute},
		{"DedupeTTL", &o.DedupeTTL, 10 * time.Minute},
		{"PingTimeout", &o.PingTimeout, 30 * time.Second},
	} {
		switch {
		case *d.v < 0:
			errs = append(errs, fmt.Errorf("%s %v is negative", d.name, *d.v))
		case *d.v == 0:
			*d.v = d.def
		}
	}
	for _, n := range []struct {
		name string
		v    *int
		def  int
	}{
		{"Workers", &o.Workers, 8},
		{"QueueSize", &o.QueueSize, 1024},
		{"DedupeSize", &o.DedupeSize, 10000},
	} {
		switch {
		case *n.v < 0:
			errs = append(errs, fmt.Errorf("%s %d is negative", n.name, *n.v))
		case *n.v == 0:
			*n.v = n.def
		}
	}
	switch {
	case o.MaxRetries == 0:
		o.MaxRetries = 3
	case o.MaxRetries < 0:
		o.MaxRetries = 0
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if len(errs) > 0 {
		return o, fmt.Errorf("slack: invalid options: %w", errors.Join(errs...))
	}
	return o, nil
}
