package prometheus

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"
)

// DefaultTimeout bounds one query when Options.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// DefaultMaxConcurrentQueries is how many queries a Client runs at once when
// Options.MaxConcurrentQueries is zero.
const DefaultMaxConcurrentQueries = 4

// Options configures a Client. URL and Logger are required.
type Options struct {
	// URL is the base address of the Prometheus server, such as "http://prometheus:9090" or
	// "https://example.org/prometheus" behind a path prefix.
	URL string
	// BearerToken, when set, is sent as "Authorization: Bearer <token>".
	BearerToken string
	// BasicAuth, when set, is sent as HTTP basic authentication. It excludes BearerToken.
	BasicAuth *BasicAuth
	// TLS configures the connection to an https URL.
	TLS TLSOptions
	// Timeout bounds each query, both on the wire and as the server-side query timeout, from
	// the moment it asks for a query slot. Zero means DefaultTimeout.
	Timeout time.Duration
	// MaxConcurrentQueries bounds the queries in flight to the server; more wait for a slot,
	// and the wait counts against their Timeout. It keeps checks on one schedule from hitting
	// Prometheus all at once. Zero means DefaultMaxConcurrentQueries.
	MaxConcurrentQueries int
	Logger               *slog.Logger
}

// BasicAuth holds the credentials for HTTP basic authentication.
type BasicAuth struct {
	User     string
	Password string
}

// TLSOptions configures TLS towards Prometheus. Files are read once, in New.
type TLSOptions struct {
	// CAFile is a PEM bundle of the authorities that sign the server certificate; empty uses
	// the system pool.
	CAFile string
	// CertFile and KeyFile are the client certificate and key for mutual TLS; set both or neither.
	CertFile string
	KeyFile  string
	// InsecureSkipVerify disables server certificate verification; for test setups only.
	InsecureSkipVerify bool
}

// Client queries one Prometheus server.
type Client struct {
	hc      *http.Client
	tr      *http.Transport
	base    *url.URL
	timeout time.Duration
	slots   chan struct{} // one element per query in flight
	log     *slog.Logger
	url     string
}

// New checks o and builds a Client. No request is made until the first query.
func New(o Options) (*Client, error) {
	var errs []error
	if o.Logger == nil {
		errs = append(errs, errors.New("Logger is required"))
	}
	u, err := parseURL(o.URL)
	if err != nil {
		errs = append(errs, err)
	}
	if o.BearerToken != "" && o.BasicAuth != nil {
		errs = append(errs, errors.New("BearerToken and BasicAuth are mutually exclusive"))
	}
	if o.BasicAuth != nil && o.BasicAuth.User == "" {
		errs = append(errs, errors.New("BasicAuth.User is required when BasicAuth is set"))
	}
	if o.Timeout < 0 {
		errs = append(errs, fmt.Errorf("Timeout %s is negative", o.Timeout))
	}
	if o.MaxConcurrentQueries < 0 {
		errs = append(errs, fmt.Errorf("MaxConcurrentQueries %d is negative", o.MaxConcurrentQueries))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("prometheus: invalid options: %w", errors.Join(errs...))
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxConcurrentQueries == 0 {
		o.MaxConcurrentQueries = DefaultMaxConcurrentQueries
	}
	tlsConf, err := o.TLS.config()
	if err != nil {
		return nil, fmt.Errorf("prometheus: invalid options: %w", err)
	}
	base := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   o.Timeout,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		TLSClientConfig:     tlsConf,
		TLSHandshakeTimeout: o.Timeout,
		MaxIdleConnsPerHost: max(8, o.MaxConcurrentQueries),
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   true,
	}
	rt := &authTransport{base: base, bearer: o.BearerToken, basic: o.BasicAuth}
	return &Client{
		hc:      &http.Client{Transport: rt},
		tr:      base,
		base:    u,
		timeout: o.Timeout,
		slots:   make(chan struct{}, o.MaxConcurrentQueries),
		log:     o.Logger.With("component", "source.prometheus", "url", redactURL(u)),
		url:     redactURL(u),
	}, nil
}

// Close releases the client's idle connections. Queries still work afterwards; they open new
// connections.
func (c *Client) Close() { c.tr.CloseIdleConnections() }

func parseURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("URL is required")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("URL %q: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("URL %q: scheme must be http or https", raw)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("URL %q: host is missing", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("URL %q: query and fragment are not allowed", raw)
	}
	return u, nil
}

// redactURL drops credentials embedded in the URL so it can be logged.
func redactURL(u *url.URL) string {
	c := *u
	c.User = nil
	return c.String()
}

func (t TLSOptions) config() (*tls.Config, error) {
	conf := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: t.InsecureSkipVerify, // #nosec G402 -- explicit opt-in in the configuration, for test setups
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("TLS.CAFile: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("TLS.CAFile %s: no PEM certificate found", t.CAFile)
		}
		conf.RootCAs = pool
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		return nil, errors.New("TLS.CertFile and TLS.KeyFile must be set together")
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("TLS.CertFile/KeyFile: %w", err)
		}
		conf.Certificates = []tls.Certificate{cert}
	}
	return conf, nil
}

const userAgent = "smartcloudops"

// authTransport adds the configured credentials to every request.
type authTransport struct {
	base   http.RoundTripper
	bearer string
	basic  *BasicAuth
}

func (t *authTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	// A RoundTripper must not modify the caller's request.
	r = r.Clone(r.Context())
	if r.Header.Get("User-Agent") == "" {
		r.Header.Set("User-Agent", userAgent)
	}
	if t.bearer != "" {
		r.Header.Set("Authorization", "Bearer "+t.bearer)
	} else if t.basic != nil {
		r.SetBasicAuth(t.basic.User, t.basic.Password)
	}
	return t.base.RoundTrip(r)
}
