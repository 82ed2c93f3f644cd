package alertmanager

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/smartcloudops/smartcloudops/internal/obs"
)

// DefaultClientTimeout bounds one API call when ClientOptions.Timeout is zero.
const DefaultClientTimeout = 10 * time.Second

// ClientOptions configures a Client. URL is required.
type ClientOptions struct {
	// URL is Alertmanager's base address, such as "http://alertmanager:9093"; a path prefix
	// (for --web.route-prefix) is kept.
	URL string
	// BearerToken, when set, is sent as "Authorization: Bearer <token>".
	BearerToken string
	// Timeout bounds each call. Zero means DefaultClientTimeout.
	Timeout time.Duration
	// HTTPClient sends the requests (TLS and proxies are configured there); nil uses a client
	// of its own.
	HTTPClient *http.Client
	// Now gives the time a silence starts when Silence.StartsAt is zero; defaults to time.Now.
	Now func() time.Time
}

// Client calls Alertmanager's API v2 for silences and alerts.
type Client struct {
	base    *url.URL
	token   string
	timeout time.Duration
	hc      *http.Client
	now     func() time.Time
}

// SilenceState is a silence's state as Alertmanager reports it.
type SilenceState string

// Silence states.
const (
	SilenceActive  SilenceState = "active"
	SilencePending SilenceState = "pending"
	SilenceExpired SilenceState = "expired"
)

// Silence mutes the alerts its matchers select between StartsAt and EndsAt.
type Silence struct {
	// ID is set by Alertmanager; leave it empty to create a silence.
	ID        string
	Matchers  []Matcher
	StartsAt  time.Time
	EndsAt    time.Time
	CreatedBy string
	Comment   string
	// State and UpdatedAt are filled in by ListSilences.
	State     SilenceState
	UpdatedAt time.Time
}

// APIAlert is an alert as Alertmanager's API reports it, with its suppression state.
type APIAlert struct {
	Labels       map[string]string
	Annotations  map[string]string
	StartsAt     time.Time
	EndsAt       time.Time
	UpdatedAt    time.Time
	Fingerprint  string
	GeneratorURL string
	Receivers    []string
	// State is "active", "suppressed" or "unprocessed".
	State string
	// SilencedBy and InhibitedBy list the silences and inhibiting alerts that suppress it.
	SilencedBy  []string
	InhibitedBy []string
}

// Suppressed reports whether a silence or an inhibition mutes the alert.
func (a APIAlert) Suppressed() bool { return a.State == "suppressed" }

// APIError is returned for an answer outside 2xx.
type APIError struct {
	// Op names the call, such as "create silence".
	Op         string
	StatusCode int
	// Message is Alertmanager's error text, shortened.
	Message string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("alertmanager: %s: HTTP %d: %s", e.Op, e.StatusCode, e.Message)
}

// Is makes errors.Is(err, ErrNotFound) true for a 404.
func (e *APIError) Is(target error) bool {
	return target == ErrNotFound && e.StatusCode == http.StatusNotFound
}

// NewClient checks o and builds a Client.
func NewClient(o ClientOptions) (*Client, error) {
	if o.URL == "" {
		return nil, errors.New("alertmanager: client: URL is required")
	}
	u, err := url.Parse(o.URL)
	if err != nil {
		return nil, fmt.Errorf("alertmanager: client: URL %q: %w", o.URL, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("alertmanager: client: URL %q: want http(s)://host[:port][/prefix]", o.URL)
	}
	if o.Timeout < 0 {
		return nil, fmt.Errorf("alertmanager: client: Timeout %s is negative", o.Timeout)
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultClientTimeout
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			MaxIdleConnsPerHost: 4,
			IdleConnTimeout:     90 * time.Second,
			TLSHandshakeTimeout: o.Timeout,
			ForceAttemptHTTP2:   true,
		}}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawQuery, u.Fragment = "", ""
	return &Client{base: u, token: o.BearerToken, timeout: o.Timeout, hc: o.HTTPClient, now: o.Now}, nil
}

// Addr is the Alertmanager address the client calls, without credentials, for messages.
func (c *Client) Addr() string {
	u := *c.base
	u.User = nil
	return u.String()
}

// Close releases the client's idle connections. Calls still work afterwards.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

// CreateSilence validates s and creates it; it returns the new silence's ID. A zero StartsAt
// means now.
func (c *Client) CreateSilence(ctx context.Context, s Silence) (string, error) {
	if s.StartsAt.IsZero() {
		s.StartsAt = c.now()
	}
	if err := s.validate(); err != nil {
		return "", err
	}
	body := postableSilence{
		ID:        s.ID,
		Matchers:  toWireMatchers(s.Matchers),
		StartsAt:  s.StartsAt.UTC(),
		EndsAt:    s.EndsAt.UTC(),
		CreatedBy: s.CreatedBy,
		Comment:   s.Comment,
	}
	var out struct {
		SilenceID string `json:"silenceID"`
	}
	if err := c.do(ctx, "create silence", http.MethodPost, "/api/v2/silences", nil, body, &out); err != nil {
		return "", err
	}
	if out.SilenceID == "" {
		return "", errors.New("alertmanager: create silence: answer has no silenceID")
	}
	return out.SilenceID, nil
}

func (s Silence) validate() error {
	var errs []error
	if len(s.Matchers) == 0 {
		errs = append(errs, errors.New("at least one matcher is required"))
	}
	allMatchEmpty := true
	for _, m := range s.Matchers {
		if err := m.Validate(); err != nil {
			errs = append(errs, err)
		}
		if !m.Matches("") {
			allMatchEmpty = false
		}
	}
	if len(s.Matchers) > 0 && allMatchEmpty {
		errs = append(errs, errors.New("the matchers would silence every alert; at least one must not match an empty label"))
	}
	if s.EndsAt.IsZero() {
		errs = append(errs, errors.New("EndsAt is required"))
	} else if !s.EndsAt.After(s.StartsAt) {
		errs = append(errs, fmt.Errorf("EndsAt %s is not after StartsAt %s", s.EndsAt.Format(time.RFC3339), s.StartsAt.Format(time.RFC3339)))
	}
	if strings.TrimSpace(s.CreatedBy) == "" {
		errs = append(errs, errors.New("CreatedBy is required"))
	}
	if strings.TrimSpace(s.Comment) == "" {
		errs = append(errs, errors.New("Comment is required"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("alertmanager: invalid silence: %w", errors.Join(errs...))
	}
	return nil
}

// ListSilences returns every silence Alertmanager knows, expired ones included, with state.
func (c *Client) ListSilences(ctx context.Context) ([]Silence, error) {
	var wire []gettableSilence
	if err := c.do(ctx, "list silences", http.MethodGet, "/api/v2/silences", nil, nil, &wire); err != nil {
		return nil, err
	}
	out := make([]Silence, 0, len(wire))
	for _, w := range wire {
		ms, err := fromWireMatchers(w.Matchers)
		if err != nil {
			return nil, fmt.Errorf("alertmanager: list silences: silence %s: %w", w.ID, err)
		}
		out = append(out, Silence{
			ID: w.ID, Matchers: ms, StartsAt: w.StartsAt, EndsAt: w.EndsAt,
			CreatedBy: w.CreatedBy, Comment: w.Comment,
			State: SilenceState(w.Status.State), UpdatedAt: w.UpdatedAt,
		})
	}
	return out, nil
}

// ExpireSilence ends the silence id now. It returns an error matching ErrNotFound when
// Alertmanager does not know the ID.
func (c *Client) ExpireSilence(ctx context.Context, id string) error {
	if id == "" || strings.ContainsAny(id, "/?#% ") {
		return fmt.Errorf("alertmanager: expire silence: invalid ID %q", id)
	}
	return c.do(ctx, "expire silence", http.MethodDelete, "/api/v2/silence/"+id, nil, nil, nil)
}

// Alerts returns the alerts that match every matcher in filter (all alerts when filter is
// empty), including silenced, inhibited and unprocessed ones, with their suppression state.
func (c *Client) Alerts(ctx context.Context, filter []Matcher) ([]APIAlert, error) {
	q := url.Values{}
	for _, m := range filter {
		if err := m.Validate(); err != nil {
			return nil, fmt.Errorf("alertmanager: alerts: filter: %w", err)
		}
		q.Add("filter", m.String())
	}
	q.Set("active", "true")
	q.Set("silenced", "true")
	q.Set("inhibited", "true")
	q.Set("unprocessed", "true")
	var wire []gettableAlert
	if err := c.do(ctx, "alerts", http.MethodGet, "/api/v2/alerts", q, nil, &wire); err != nil {
		return nil, err
	}
	out := make([]APIAlert, 0, len(wire))
	for _, w := range wire {
		a := APIAlert{
			Labels: w.Labels, Annotations: w.Annotations,
			StartsAt: w.StartsAt, EndsAt: w.EndsAt, UpdatedAt: w.UpdatedAt,
			Fingerprint: w.Fingerprint, GeneratorURL: w.GeneratorURL,
			State: w.Status.State, SilencedBy: w.Status.SilencedBy, InhibitedBy: w.Status.InhibitedBy,
		}
		for _, r := range w.Receivers {
			a.Receivers = append(a.Receivers, r.Name)
		}
		out = append(out, a)
	}
	return out, nil
}

// maxAnswerBytes bounds what the client reads from one answer.
const maxAnswerBytes = 32 << 20

func (c *Client) do(ctx context.Context, op, method, path string, q url.Values, in, out any) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	u := c.base.JoinPath(path) // #nosec G125 -- fixed API routes; silence IDs are checked to hold no path characters
	u.RawQuery = q.Encode()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("alertmanager: %s: encode request: %w", op, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return fmt.Errorf("alertmanager: %s: %w", op, err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "smartcloudops")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if cerr := context.Cause(ctx); cerr != nil && !errors.Is(cerr, context.DeadlineExceeded) {
			return fmt.Errorf("alertmanager: %s: %w", op, err) // the caller gave up
		}
		return fmt.Errorf("alertmanager: %s: %w", op, &obs.UnavailableError{Service: "Alertmanager", Addr: c.Addr(), Err: err})
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return fmt.Errorf("alertmanager: %s: read answer: %w", op, err)
	}
	if resp.StatusCode/100 != 2 {
		return &APIError{Op: op, StatusCode: resp.StatusCode, Message: apiMessage(data)}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("alertmanager: %s: decode answer: %w", op, err)
	}
	return nil
}

// apiMessage extracts Alertmanager's error text, which is a JSON string or plain text.
func apiMessage(data []byte) string {
	var s string
	if json.Unmarshal(data, &s) == nil {
		return truncate(strings.TrimSpace(s), 300)
	}
	var obj struct {
		Message string `json:"message"`
		Error   string `json:"error"`
	}
	if json.Unmarshal(data, &obj) == nil && (obj.Message != "" || obj.Error != "") {
		return truncate(obj.Message+obj.Error, 300)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return "(empty answer)"
	}
	return truncate(strings.TrimSpace(string(data)), 300)
}

// The wire types follow Alertmanager's OpenAPI v2 specification.
type wireMatcher struct {
	Name    string `json:"name"`
	Value   string `json:"value"`
	IsRegex bool   `json:"isRegex"`
	IsEqual *bool  `json:"isEqual,omitempty"`
}

type postableSilence struct {
	ID        string        `json:"id,omitempty"`
	Matchers  []wireMatcher `json:"matchers"`
	StartsAt  time.Time     `json:"startsAt"`
	EndsAt    time.Time     `json:"endsAt"`
	CreatedBy string        `json:"createdBy"`
	Comment   string        `json:"comment"`
}

type gettableSilence struct {
	ID        string        `json:"id"`
	Matchers  []wireMatcher `json:"matchers"`
	StartsAt  time.Time     `json:"startsAt"`
	EndsAt    time.Time     `json:"endsAt"`
	UpdatedAt time.Time     `json:"updatedAt"`
	CreatedBy string        `json:"createdBy"`
	Comment   string        `json:"comment"`
	Status    struct {
		State string `json:"state"`
	} `json:"status"`
}

type gettableAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	UpdatedAt    time.Time         `json:"updatedAt"`
	Fingerprint  string            `json:"fingerprint"`
	GeneratorURL string            `json:"generatorURL"`
	Receivers    []struct {
		Name string `json:"name"`
	} `json:"receivers"`
	Status struct {
		State       string   `json:"state"`
		SilencedBy  []string `json:"silencedBy"`
		InhibitedBy []string `json:"inhibitedBy"`
	} `json:"status"`
}

func toWireMatchers(ms []Matcher) []wireMatcher {
	out := make([]wireMatcher, len(ms))
	for i, m := range ms {
		eq := m.Type == MatchEqual || m.Type == MatchRegexp
		out[i] = wireMatcher{Name: m.Name, Value: m.Value, IsRegex: m.Type == MatchRegexp || m.Type == MatchNotRegexp, IsEqual: &eq}
	}
	return out
}

func fromWireMatchers(ws []wireMatcher) ([]Matcher, error) {
	out := make([]Matcher, len(ws))
	for i, w := range ws {
		// isEqual is absent in answers from Alertmanager before 0.22, where every matcher is positive.
		eq := w.IsEqual == nil || *w.IsEqual
		var t MatchType
		switch {
		case eq && !w.IsRegex:
			t = MatchEqual
		case !eq && !w.IsRegex:
			t = MatchNotEqual
		case eq && w.IsRegex:
			t = MatchRegexp
		default:
			t = MatchNotRegexp
		}
		if w.Name == "" {
			return nil, fmt.Errorf("matcher %d has no name", i)
		}
		out[i] = Matcher{Name: w.Name, Type: t, Value: w.Value}
	}
	return out, nil
}
