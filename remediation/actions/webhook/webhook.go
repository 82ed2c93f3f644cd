package webhook

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/smartcloudops/smartcloudops/remediation"
)

// Name is the action name rules use.
const Name = "webhook"

// Defaults applied by New when the corresponding option is zero.
const (
	DefaultTimeout    = 10 * time.Second
	DefaultMaxRetries = 3
	DefaultBackoff    = 500 * time.Millisecond
	DefaultMaxBackoff = 10 * time.Second
	DefaultOutputCap  = 16 << 10
)

// Options configures the webhook action. Logger is required.
type Options struct {
	// Secret signs every request (see the package documentation). Empty means unsigned.
	Secret []byte
	// Timeout bounds each attempt. Defaults to 10s.
	Timeout time.Duration
	// MaxRetries is how many times a failed attempt is retried. Zero means DefaultMaxRetries;
	// a negative value disables retries.
	MaxRetries int
	// Backoff is the wait before the first retry; it doubles for each further retry up to
	// MaxBackoff. Defaults to 500ms and 10s.
	Backoff    time.Duration
	MaxBackoff time.Duration
	// AllowedHosts, when not empty, lists the hosts requests may go to: exact names
	// ("hooks.example.com") or wildcards for subdomains ("*.example.com"). Ports are ignored.
	AllowedHosts []string
	// AllowPrivateNetworks lets requests go to loopback, private and link-local addresses when
	// AllowedHosts is empty. Off by default, so a rule or a manual run cannot reach the bot's
	// own network (metadata endpoints, internal services) unless the operator says so.
	AllowPrivateNetworks bool
	// HTTPClient sends the requests. Defaults to a client with no overall timeout (attempts are
	// bounded by Timeout). Redirects are never followed, whatever the client's policy.
	HTTPClient *http.Client
	// OutputCap bounds how much of the response body is kept. Defaults to 16 KiB.
	OutputCap int
	// Logger receives one record per attempt.
	Logger *slog.Logger
	// Now returns the time used for signature timestamps. Defaults to time.Now.
	Now func() time.Time
}

// Action sends webhooks. It implements remediation.Action and is safe for concurrent use.
type Action struct {
	o          Options
	client     *http.Client
	log        *slog.Logger
	publicOnly bool // connections to private and local addresses are refused
}

var _ remediation.Action = (*Action)(nil)

// New checks the options and returns the action. It reports every problem at once.
func New(o Options) (*Action, error) {
	var errs []error
	if o.Logger == nil {
		errs = append(errs, errors.New("Logger is required"))
	}
	if o.Timeout < 0 || o.Backoff < 0 || o.MaxBackoff < 0 {
		errs = append(errs, errors.New("Timeout, Backoff and MaxBackoff must not be negative"))
	}
	if o.OutputCap < 0 {
		errs = append(errs, fmt.Errorf("OutputCap %d is negative", o.OutputCap))
	}
	for i, h := range o.AllowedHosts {
		if h == "" || strings.ContainsAny(h, "/:@ ") || strings.Contains(strings.TrimPrefix(h, "*."), "*") {
			errs = append(errs, fmt.Errorf("AllowedHosts[%d] %q: want a host name such as hooks.example.com or *.example.com", i, h))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("webhook action: %w", err)
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxRetries == 0 {
		o.MaxRetries = DefaultMaxRetries
	} else if o.MaxRetries < 0 {
		o.MaxRetries = 0
	}
	if o.Backoff == 0 {
		o.Backoff = DefaultBackoff
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	if o.OutputCap == 0 {
		o.OutputCap = DefaultOutputCap
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	base := o.HTTPClient
	public := false
	if base == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		if len(o.AllowedHosts) == 0 && !o.AllowPrivateNetworks {
			d := &net.Dialer{Timeout: 30 * time.Second, Control: publicOnly}
			tr.DialContext = d.DialContext
			tr.Proxy = nil // the check must see the real destination
			public = true
		}
		base = &http.Client{Transport: tr}
	}
	client := *base
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Action{o: o, client: &client, log: o.Logger.With("component", "action", "action", Name), publicOnly: public}, nil
}

// Name implements remediation.Action.
func (a *Action) Name() string { return Name }

// Schema implements remediation.Action.
func (a *Action) Schema() remediation.Schema {
	return remediation.Schema{
		{Name: "url", Type: remediation.TypeString, Required: true,
			Description: "http or https URL to send to"},
		{Name: "method", Type: remediation.TypeString, Default: http.MethodPost,
			Description: "POST, PUT or PATCH"},
		{Name: "body", Type: remediation.TypeString,
			Description: "raw request body, usually templated JSON; defaults to a JSON object of the other parameters"},
		{Name: "content_type", Type: remediation.TypeString, Default: "application/json",
			Description: "Content-Type header; a JSON type makes the body checked as JSON"},
		{Name: "idempotency_key", Type: remediation.TypeString,
			Description: "sent as Idempotency-Key on every attempt; the executor sets it to the proposal ID"},
	}
}

// Target implements remediation.Action: "webhook/<host>", so two runs against one endpoint never
// overlap.
func (a *Action) Target(p remediation.Params) string {
	u, err := url.Parse(p.String("url"))
	if err != nil || u.Host == "" {
		return "webhook/" + p.String("url")
	}
	return "webhook/" + strings.ToLower(u.Host)
}

// request is a checked, ready-to-send webhook.
type request struct {
	method, contentType, key string
	u                        *url.URL
	body                     []byte
}

// Describe implements remediation.Action, such as
// "POST https://hooks.example.com/deploy (112 bytes, signed, Idempotency-Key p-42)". Query strings
// and credentials are left out since they often carry tokens.
func (a *Action) Describe(_ context.Context, p remediation.Params) (string, error) {
	r, err := a.build(p)
	if err != nil {
		return "", err
	}
	var extras []string
	sum := sha256.Sum256(r.body)
	body := string(r.body)
	if r.u.RawQuery != "" { // the default body repeats the URL, query tokens included
		body = strings.ReplaceAll(body, r.u.RawQuery, "…")
	}
	extras = append(extras, fmt.Sprintf("body %d bytes, sha256 %x: %s", len(r.body), sum[:4], preview([]byte(body))))
	if r.u.RawQuery != "" {
		extras = append(extras, "query "+queryNames(r.u))
	}
	if len(a.o.Secret) > 0 {
		extras = append(extras, "signed")
	}
	if r.key != "" {
		extras = append(extras, "Idempotency-Key "+r.key)
	}
	return fmt.Sprintf("%s %s (%s)", r.method, redact(r.u), strings.Join(extras, ", ")), nil
}

// Execute implements remediation.Action. It returns a *StatusError for a final non-2xx response.
func (a *Action) Execute(ctx context.Context, p remediation.Params) (remediation.Result, error) {
	r, err := a.build(p)
	if err != nil {
		return remediation.Result{}, err
	}
	return a.send(ctx, r)
}

func (a *Action) build(p remediation.Params) (*request, error) {
	var errs []error
	str := func(name string) string {
		v, ok := p[name]
		if !ok || v == nil {
			return ""
		}
		s, ok := v.(string)
		if !ok {
			errs = append(errs, fmt.Errorf("param %q is %T, want a string", name, v))
		} else if strings.Contains(s, "{{") && name != "body" {
			errs = append(errs, fmt.Errorf("param %q holds an unrendered template %q", name, s))
		}
		return s
	}
	r := &request{
		method:      strings.ToUpper(str("method")),
		contentType: str("content_type"),
		key:         str("idempotency_key"),
	}
	raw := str("url")
	body := str("body")
	if r.method == "" {
		r.method = http.MethodPost
	}
	if r.contentType == "" {
		r.contentType = "application/json"
	}
	switch r.method {
	case http.MethodPost, http.MethodPut, http.MethodPatch:
	default:
		errs = append(errs, fmt.Errorf("param \"method\" %q: want POST, PUT or PATCH", r.method))
	}
	if strings.ContainsAny(r.key, "\r\n") || strings.ContainsAny(r.contentType, "\r\n") {
		errs = append(errs, errors.New("params \"idempotency_key\" and \"content_type\" must be one line"))
	}
	if raw == "" {
		errs = append(errs, errors.New("param \"url\" is required"))
	} else if u, err := a.checkURL(raw); err != nil {
		errs = append(errs, err)
	} else {
		r.u = u
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("webhook: %w", err)
	}
	if _, ok := p["body"]; ok {
		r.body = []byte(body)
	} else {
		r.body = defaultBody(p)
	}
	if isJSON(r.contentType) && !json.Valid(r.body) {
		return nil, fmt.Errorf("webhook %s: param \"body\" is not valid JSON but content_type is %s", redact(r.u), r.contentType)
	}
	return r, nil
}

// defaultBody is the JSON object of every parameter except the body itself.
func defaultBody(p remediation.Params) []byte {
	m := make(map[string]any, len(p))
	for k, v := range p {
		if k != "body" {
			m[k] = v
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		// Normalized params hold only strings, numbers, bools, durations and string lists, all
		// of which marshal; an empty object is sent if a caller passed something else.
		return []byte("{}")
	}
	return b
}

func isJSON(contentType string) bool {
	ct := strings.ToLower(strings.TrimSpace(strings.Split(contentType, ";")[0]))
	return ct == "application/json" || strings.HasSuffix(ct, "+json")
}

func (a *Action) checkURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("param \"url\": %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("param \"url\" %s: scheme must be http or https", redact(u))
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("param \"url\" %s: no host", redact(u))
	}
	if !a.hostAllowed(u.Hostname()) {
		return nil, fmt.Errorf("param \"url\": %w: %s is not in actions.webhook.allowed_hosts (%s)", ErrHostNotAllowed, u.Hostname(), strings.Join(a.o.AllowedHosts, ", "))
	}
	if ip, err := netip.ParseAddr(u.Hostname()); err == nil && a.publicOnly {
		// A literal address is checked when proposed; a name is checked when it resolves.
		if err := publicOnly("tcp", net.JoinHostPort(ip.String(), "0"), nil); err != nil {
			return nil, fmt.Errorf("param \"url\": %w", errors.Unwrap(err))
		}
	}
	return u, nil
}

func (a *Action) hostAllowed(host string) bool {
	if len(a.o.AllowedHosts) == 0 {
		return true
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, h := range a.o.AllowedHosts {
		h = strings.ToLower(h)
		if suffix, ok := strings.CutPrefix(h, "*."); ok {
			if strings.HasSuffix(host, "."+suffix) {
				return true
			}
		} else if host == h {
			return true
		}
	}
	return false
}

// redact returns the URL without credentials, query or fragment, for cards and logs.
func redact(u *url.URL) string {
	if u == nil {
		return ""
	}
	c := *u
	c.User, c.RawQuery, c.Fragment, c.RawFragment = nil, "", "", ""
	return c.String()
}

// insideRanges are the non-public ranges the netip predicates leave out: carrier-grade NAT
// (RFC 6598), which cloud providers also use inside their networks, and the NAT64 prefixes
// (RFC 6052, RFC 8215), which reach IPv4 addresses, private ones included, from IPv6.
var insideRanges = []netip.Prefix{
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("64:ff9b::/96"),
	netip.MustParsePrefix("64:ff9b:1::/48"),
}

func inside(ip netip.Addr) bool {
	for _, p := range insideRanges {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// publicOnly refuses connections to loopback, private, link-local, unspecified, multicast,
// carrier-grade NAT and NAT64 addresses;
// it runs after name resolution, so a public name pointing inside is refused too.
func publicOnly(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("webhook: %s is not an IP address", host)
	}
	ip = ip.Unmap()
	if ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsUnspecified() || ip.IsMulticast() || inside(ip) {
		return fmt.Errorf("webhook: %w", fmt.Errorf("%w: %s is a private or local address (list the host in actions.webhook.allowed_hosts or set actions.webhook.allow_private_networks)", ErrHostNotAllowed, ip))
	}
	return nil
}

// preview is the start of a body on one line, for the card an approver reads.
func preview(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}

// queryNames lists the query parameters with their values hidden: they often hold tokens.
func queryNames(u *url.URL) string {
	q := u.Query()
	names := make([]string, 0, len(q))
	for k := range q {
		names = append(names, k+"=…")
	}
	sort.Strings(names)
	return strings.Join(names, "&")
}
