package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smartcloudops/smartcloudops/commands"
	"github.com/smartcloudops/smartcloudops/detector"
	"github.com/smartcloudops/smartcloudops/incident"
	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/internal/store"
	"github.com/smartcloudops/smartcloudops/remediation"
	"github.com/smartcloudops/smartcloudops/remediation/audit"
)

// Incidents is what the API reads of the incidents; *incident.Manager implements it.
type Incidents interface {
	List(ctx context.Context, all bool) ([]incident.Incident, error)
	ListPage(ctx context.Context, q incident.PageQuery) (incident.Page, error)
	Get(ctx context.Context, id string) (incident.Incident, error)
}

// Proposals is what the API asks of the remediation Manager; *remediation.Manager implements it.
type Proposals interface {
	Propose(ctx context.Context, r remediation.Request) (remediation.Proposal, error)
	Get(ctx context.Context, id string) (remediation.Proposal, error)
	ListPage(ctx context.Context, q remediation.PageQuery) (remediation.Page, error)
	ApprovePlan(ctx context.Context, id, planHash string, who remediation.Actor) (remediation.Proposal, error)
	Reject(ctx context.Context, id string, who remediation.Actor, reason string) (remediation.Proposal, error)
	Resolve(ctx context.Context, id string, who remediation.Actor, outcome, note string) (remediation.Proposal, error)
	Paused(ctx context.Context) (bool, string)
}

// AuditLog is what the API reads and appends of the audit log; *audit.Log implements it.
type AuditLog interface {
	Append(ctx context.Context, r audit.Record) (audit.Record, error)
	List(ctx context.Context, f audit.Filter) ([]audit.Record, error)
}

// Detector is what the API reads of the detector; *detector.Detector implements it.
type Detector interface {
	Status() []detector.CheckStatus
	// Latest is the latest scored point of one series of a check, and whether there is one.
	Latest(check string, labels map[string]string) (detector.Scored, bool)
}

// Options configures an API. Store, Incidents, Proposals, Audit, Logger and Registerer are
// required; Rules and Detector are optional (their endpoints then answer empty lists).
type Options struct {
	Store     store.Store // where API keys live, under apikeys/
	Incidents Incidents
	Proposals Proposals
	Audit     AuditLog
	Rules     commands.Rules
	Detector  Detector
	// Logger and Registerer receive the API's log records and metrics.
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Now        func() time.Time // defaults to time.Now; decides key expiry and rate-limit refills
	// RateLimit is the average number of requests a second each key may make (default 50), and
	// RateBurst how many it may make at once (default 100).
	RateLimit float64
	RateBurst int
	// MaxBodyBytes caps request bodies (default 64 KiB); larger ones are refused with 413.
	MaxBodyBytes int64
	// Timeout bounds every handler (default 30s); past it the request is answered 503 timeout.
	Timeout time.Duration
	// KeyRefresh is how long authenticated keys are cached before the store is read again
	// (default 1s); it bounds how late a revocation made by another process takes effect.
	KeyRefresh time.Duration
	// Pprof adds Go's profiling endpoints under /debug/pprof/ (pprof.go), for API keys with the
	// admin role only. Off by default: a profile shows the program's internals.
	Pprof bool
}

// API serves /api/v1. Mount the handlers of Routes on the HTTP server.
type API struct {
	o      Options
	log    *slog.Logger
	keys   *Keys
	limit  *limiter
	m      *metrics
	routes []route
	probe  *http.ServeMux // every known pattern, to tell 404 from 405 for unmatched requests
}

// New returns an API, or an error naming the missing options.
func New(o Options) (*API, error) {
	var missing []string
	for _, req := range []struct {
		name   string
		absent bool
	}{{"Store", o.Store == nil}, {"Incidents", o.Incidents == nil}, {"Proposals", o.Proposals == nil},
		{"Audit", o.Audit == nil}, {"Logger", o.Logger == nil}, {"Registerer", o.Registerer == nil}} {
		if req.absent {
			missing = append(missing, req.name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("api: %s required", strings.Join(missing, ", "))
	}
	if o.RateLimit < 0 || o.RateBurst < 0 || o.MaxBodyBytes < 0 || o.Timeout < 0 || o.KeyRefresh < 0 {
		return nil, errors.New("api: RateLimit, RateBurst, MaxBodyBytes, Timeout and KeyRefresh must not be negative")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.RateLimit == 0 {
		o.RateLimit = 50
	}
	if o.RateBurst == 0 {
		o.RateBurst = 100
	}
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = 64 << 10
	}
	if o.Timeout == 0 {
		o.Timeout = 30 * time.Second
	}
	keys, err := NewKeys(KeysOptions{Store: o.Store, Now: o.Now, Refresh: o.KeyRefresh})
	if err != nil {
		return nil, err
	}
	a := &API{o: o, log: o.Logger.With(obs.KeyComponent, "api"), keys: keys,
		limit: newLimiter(o.RateLimit, o.RateBurst, o.Now), m: newMetrics(o.Registerer)}
	a.routes = a.table()
	a.probe = http.NewServeMux()
	for _, rt := range a.routes {
		a.probe.Handle(rt.pattern, http.NotFoundHandler())
	}
	a.probe.Handle(AlertmanagerPattern, http.NotFoundHandler())
	return a, nil
}

// Keys returns the API's key store, for creating and revoking keys in-process.
func (a *API) Keys() *Keys { return a.keys }

// AlertmanagerPattern is the Alertmanager webhook, mounted beside the API by the server and
// described in its OpenAPI document.
const AlertmanagerPattern = "POST /api/v1/alertmanager"

// fallbackPattern catches every other /api/v1 request, to answer JSON 404 and 405.
const fallbackPattern = "/api/v1/"

// access is the least a route needs.
type access int

const (
	public    access = iota // no key (the OpenAPI document)
	readOnly                // any valid key
	write                   // operator or admin; the Manager may refuse further
	adminOnly               // admin
)

// route is one endpoint.
type route struct {
	pattern string
	access  access
	body    bool // takes a JSON body
	h       func(w http.ResponseWriter, r *http.Request, k Key) error
}

func (a *API) table() []route {
	rts := []route{
		{pattern: "GET /api/v1/incidents", access: readOnly, h: a.listIncidents},
		{pattern: "GET /api/v1/incidents/{id}", access: readOnly, h: a.getIncident},
		{pattern: "GET /api/v1/proposals", access: readOnly, h: a.listProposals},
		{pattern: "POST /api/v1/proposals", access: write, body: true, h: a.propose},
		{pattern: "GET /api/v1/proposals/{id}", access: readOnly, h: a.getProposal},
		{pattern: "POST /api/v1/proposals/{id}/approve", access: write, body: true, h: a.approve},
		{pattern: "POST /api/v1/proposals/{id}/reject", access: write, body: true, h: a.reject},
		{pattern: "POST /api/v1/proposals/{id}/resolve", access: write, body: true, h: a.resolve},
		{pattern: "GET /api/v1/rules", access: readOnly, h: a.listRules},
		{pattern: "GET /api/v1/rules/{name}", access: readOnly, h: a.getRule},
		{pattern: "GET /api/v1/audit", access: readOnly, h: a.listAudit},
		{pattern: "GET /api/v1/anomalies", access: readOnly, h: a.listAnomalies},
		{pattern: "GET /api/v1/openapi.json", access: public, h: a.openAPI},
	}
	if a.o.Pprof {
		rts = append(rts, pprofRoutes()...)
	}
	return rts
}

// Routes returns the API's handlers by Go 1.22 pattern, such as "GET /api/v1/incidents", for the
// HTTP server to mount. It includes a catch-all "/api/v1/" that answers unknown endpoints with
// JSON 404 or 405; the Alertmanager webhook's more specific pattern takes precedence over it.
// With Options.Pprof it includes the profiling endpoints under /debug/pprof/.
func (a *API) Routes() map[string]http.Handler {
	out := make(map[string]http.Handler, len(a.routes)+1)
	for _, rt := range a.routes {
		out[rt.pattern] = a.wrap(rt)
	}
	out[fallbackPattern] = a.wrap(route{pattern: fallbackPattern, access: public, h: a.fallback})
	return out
}

// statusWriter remembers the status code for the metrics.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (sw *statusWriter) WriteHeader(code int) {
	if sw.code == 0 {
		sw.code = code
	}
	sw.ResponseWriter.WriteHeader(code)
}

func (sw *statusWriter) Write(p []byte) (int, error) {
	if sw.code == 0 {
		sw.code = http.StatusOK
	}
	return sw.ResponseWriter.Write(p)
}

// writeSlack is the time an answer has to be written after its handler's timeout.
const writeSlack = 10 * time.Second

// wrap puts a route behind the chain every route shares: correlation ID, metrics, timeout,
// authentication, rate limit, role, body checks, error mapping.
func (a *API) wrap(rt route) http.Handler {
	reqs := map[int]prometheus.Counter{}
	for _, c := range []int{200, 201, 400, 401, 403, 404, 405, 409, 413, 415, 429, 500, 503} {
		reqs[c] = a.m.requests.WithLabelValues(rt.pattern, fmt.Sprint(c))
	}
	dur := a.m.duration.WithLabelValues(rt.pattern)
	inner := http.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { a.serve(rt, w, r) }))
	if rt.access == write {
		inner = withTimeout(inner, a.o.Timeout, a.log)
	} else {
		inner = withDeadline(inner, a.o.Timeout, a.log)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		// The server's write timeout is shorter than an approval that waits for its action;
		// give every API request until its own timeout, plus time to write the answer. Where
		// the writer cannot move its deadline (tests), the server's stays.
		_ = http.NewResponseController(w).SetWriteDeadline(start.Add(a.o.Timeout + writeSlack))
		ctx, cid := obs.EnsureCorrelation(r.Context())
		if w.Header().Get("X-Request-ID") == "" {
			w.Header().Set("X-Request-ID", cid)
		}
		sw := &statusWriter{ResponseWriter: w}
		inner.ServeHTTP(sw, r.WithContext(ctx))
		if c, ok := reqs[sw.code]; ok {
			c.Inc()
		} else {
			a.m.requests.WithLabelValues(rt.pattern, fmt.Sprint(sw.code)).Inc()
		}
		dur.Observe(time.Since(start).Seconds())
	})
}

// serve authenticates, authorises and runs one request of rt.
func (a *API) serve(rt route, w http.ResponseWriter, r *http.Request) {
	var k Key
	if rt.access != public {
		var e *Error
		if k, e = a.authenticate(r, rt); e != nil {
			a.m.denied.WithLabelValues("unauthorized").Inc()
			w.Header().Set("WWW-Authenticate", `Bearer realm="smartcloudops"`)
			writeError(w, r, e)
			return
		}
		if ok, wait := a.limit.allow(k.Name); !ok {
			a.m.denied.WithLabelValues("rate_limited").Inc()
			w.Header().Set("Retry-After", retryAfter(wait))
			writeError(w, r, errorf(http.StatusTooManyRequests, CodeRateLimited, "api key %q is over its rate of %g requests/s; retry after %s", k.Name, a.o.RateLimit, retryAfter(wait)+"s"))
			return
		}
		if rt.access == write && k.Role == RoleViewer {
			a.m.denied.WithLabelValues("forbidden").Inc()
			e := errorf(http.StatusForbidden, CodeForbidden, "api key %q has role viewer, which may only read", k.Name)
			a.denied(r, k, rt, e)
			writeError(w, r, e)
			return
		}
		if rt.access == adminOnly && k.Role != RoleAdmin {
			a.m.denied.WithLabelValues("forbidden").Inc()
			e := errorf(http.StatusForbidden, CodeForbidden, "api key %q has role %s; %s needs role admin", k.Name, k.Role, rt.pattern)
			a.denied(r, k, rt, e)
			writeError(w, r, e)
			return
		}
	}
	if rt.body {
		if e := a.checkBody(w, r); e != nil {
			writeError(w, r, e)
			return
		}
	}
	err := rt.h(w, r, k)
	if err == nil {
		return
	}
	var e *Error
	switch {
	case errors.As(err, &e):
	case errors.Is(err, context.DeadlineExceeded) && r.Context().Err() != nil:
		a.log.WarnContext(r.Context(), "api handler timed out", "route", rt.pattern, "timeout", a.o.Timeout)
		e = timeoutError(r, a.o.Timeout)
	case obs.IsUnavailable(err):
		a.log.WarnContext(r.Context(), "api request failed: a dependency is down", "route", rt.pattern, obs.KeyErr, err)
		var ue *obs.UnavailableError
		errors.As(err, &ue)
		e = errorf(http.StatusServiceUnavailable, CodeUnavailable, "%s (ref %s)", ue.Error(), obs.Correlation(r.Context()))
	default:
		a.log.ErrorContext(r.Context(), "api request failed", "route", rt.pattern, "path", r.URL.Path, "key", k.Name, obs.KeyErr, err)
		e = internalError(r)
	}
	writeError(w, r, e)
}

// authenticate checks the bearer key. Refusals of a known key (expired, revoked) are audited;
// an unknown key is only logged, so guessing cannot flood the audit log.
func (a *API) authenticate(r *http.Request, rt route) (Key, *Error) {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if h == "" {
		return Key{}, errorf(http.StatusUnauthorized, CodeUnauthorized, "missing API key: send Authorization: Bearer sco_…")
	}
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return Key{}, errorf(http.StatusUnauthorized, CodeUnauthorized, "the Authorization header must be Bearer sco_…")
	}
	k, err := a.keys.Authenticate(r.Context(), strings.TrimSpace(token))
	switch {
	case err == nil:
		return k, nil
	case errors.Is(err, ErrBadKey):
		a.log.InfoContext(r.Context(), "api key refused", "reason", "unknown key", "path", r.URL.Path, "remote", r.RemoteAddr)
		return Key{}, errorf(http.StatusUnauthorized, CodeUnauthorized, "invalid API key")
	case errors.Is(err, ErrKeyRevoked), errors.Is(err, ErrKeyExpired):
		e := errorf(http.StatusUnauthorized, CodeUnauthorized, "api key %q is %s", k.Name, k.Status(a.o.Now()))
		// A client left running with a dead key is audited at the key's rate, not at its own.
		if ok, _ := a.limit.allow(k.Name); ok {
			a.denied(r, k, rt, e)
		}
		return Key{}, e
	}
	a.log.ErrorContext(r.Context(), "api key check failed", obs.KeyErr, err)
	return Key{}, internalError(r)
}

// denied logs and audits a request refused for key k.
func (a *API) denied(r *http.Request, k Key, rt route, e *Error) {
	ctx := context.WithoutCancel(r.Context())
	pattern := rt.pattern
	a.log.WarnContext(ctx, "api request denied", "key", k.Name, "route", pattern, "code", e.Code, "reason", e.Message)
	rec := audit.Record{Kind: "api.denied", User: k.Actor().ID, Outcome: e.Code, Detail: r.Method + " " + r.URL.Path + ": " + e.Message,
		Extra: map[string]string{"key": k.Name, "role": k.Role, "route": pattern}}
	if id := r.PathValue("id"); id != "" && strings.HasPrefix(pattern, "POST /api/v1/proposals/") {
		rec.Proposal = id
	}
	if _, err := a.o.Audit.Append(ctx, rec); err != nil {
		a.log.ErrorContext(ctx, "audit append failed", "kind", rec.Kind, obs.KeyErr, err)
	}
}

// checkBody caps the body and requires JSON when there is one (a length of -1 is a body of
// unknown length).
func (a *API) checkBody(w http.ResponseWriter, r *http.Request) *Error {
	if r.ContentLength > a.o.MaxBodyBytes {
		return errorf(http.StatusRequestEntityTooLarge, CodeTooLarge, "request body of %d bytes is over the limit of %d bytes", r.ContentLength, a.o.MaxBodyBytes)
	}
	if r.ContentLength != 0 {
		mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || mt != "application/json" {
			return errorf(http.StatusUnsupportedMediaType, CodeUnsupportedMedia, "a request body must be sent with Content-Type: application/json")
		}
	}
	r.Body = http.MaxBytesReader(w, r.Body, a.o.MaxBodyBytes)
	return nil
}

// fallback answers requests under /api/v1 that match no route.
func (a *API) fallback(w http.ResponseWriter, r *http.Request, _ Key) error {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := a.probe.Handler(probe); pattern != "" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		return errorf(http.StatusMethodNotAllowed, CodeMethodNotAllowed, "%s is not allowed on %s (allowed: %s)", r.Method, r.URL.Path, strings.Join(allow, ", "))
	}
	return notFound("no endpoint %s %s (see /api/v1/openapi.json)", r.Method, r.URL.Path)
}
