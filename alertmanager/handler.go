package alertmanager

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultMaxBodyBytes caps a webhook body when HandlerOptions.MaxBodyBytes is zero. It fits
// several thousand alerts per notification.
const DefaultMaxBodyBytes = 4 << 20

// maxPooledBuffer keeps an unusually large body's buffer from staying in the pool.
const maxPooledBuffer = 1 << 20

// DefaultMaxInFlight caps concurrent notifications when HandlerOptions.MaxInFlight is zero.
const DefaultMaxInFlight = 16

// HandlerOptions configures a Handler. Deliver, Logger and Registerer are required.
type HandlerOptions struct {
	// Deliver receives every valid message; the handler answers 200 once it returns nil, so it
	// must have made the message durable (Intake.Accept does). ErrBusy answers 503 with
	// Retry-After, any other error 500: Alertmanager retries both, so a message may arrive more
	// than once, which the incident stage's dedup absorbs. Deliver runs on the request's
	// goroutine with the request's context.
	Deliver func(ctx context.Context, m *Message) error
	// Busy, when set, reports that Deliver would answer ErrBusy: the request is then answered
	// 503 before its body is read, so a flood the intake cannot take costs little CPU beside
	// the work of processing what it took (Intake.Busy).
	Busy func() bool
	// BearerToken, when set, must be presented as "Authorization: Bearer <token>" (Alertmanager's
	// http_config.authorization); requests without it are answered 401.
	BearerToken string
	// MaxBodyBytes caps the body; longer bodies are answered 413. Zero means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// MaxInFlight caps how many bodies are read, parsed and delivered at once; further requests
	// wait for a slot (or for their own context to end, answered 503 so Alertmanager retries).
	// With MaxBodyBytes it bounds the intake's memory under a burst. Zero means
	// DefaultMaxInFlight.
	MaxInFlight int
	Logger      *slog.Logger
	Registerer  prometheus.Registerer
}

// Handler is the HTTP endpoint that Alertmanager's webhook receiver posts to.
type Handler struct {
	deliver   func(context.Context, *Message) error
	busy      func() bool
	tokenHash atomic.Pointer[[sha256.Size]byte] // nil: no token required
	maxBytes  int64
	slots     chan struct{}
	bufs      sync.Pool // of *bytes.Buffer; reading a body allocates nothing when busy
	log       *slog.Logger
	m         *handlerMetrics
}

// Notification outcomes counted in smartcloudops_alertmanager_notifications_total.
const (
	OutcomeDelivered        = "delivered"
	OutcomeDeliverError     = "deliver_error"
	OutcomeBadPayload       = "bad_payload"
	OutcomeTooLarge         = "too_large"
	OutcomeUnauthorized     = "unauthorized"
	OutcomeMethodNotAllowed = "method_not_allowed"
	OutcomeReadError        = "read_error"
	OutcomeCanceled         = "canceled"
	OutcomeBusy             = "busy"
)

type handlerMetrics struct {
	notifications *prometheus.CounterVec
	alerts        *prometheus.CounterVec
}

func newHandlerMetrics(reg prometheus.Registerer) (*handlerMetrics, error) {
	m := &handlerMetrics{
		notifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smartcloudops_alertmanager_notifications_total",
			Help: "Alertmanager webhook notifications received, by outcome.",
		}, []string{"outcome"}),
		alerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smartcloudops_alertmanager_alerts_received_total",
			Help: "Alerts in valid Alertmanager webhook notifications, by alert status.",
		}, []string{"status"}),
	}
	for _, c := range []prometheus.Collector{m.notifications, m.alerts} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	for _, o := range []string{OutcomeDelivered, OutcomeDeliverError, OutcomeBadPayload, OutcomeTooLarge,
		OutcomeUnauthorized, OutcomeMethodNotAllowed, OutcomeReadError, OutcomeCanceled, OutcomeBusy} {
		m.notifications.WithLabelValues(o)
	}
	m.alerts.WithLabelValues(StatusFiring)
	m.alerts.WithLabelValues(StatusResolved)
	return m, nil
}

// NewHandler checks o, registers the handler's metrics and returns the handler.
func NewHandler(o HandlerOptions) (*Handler, error) {
	var missing []string
	if o.Deliver == nil {
		missing = append(missing, "Deliver")
	}
	if o.Logger == nil {
		missing = append(missing, "Logger")
	}
	if o.Registerer == nil {
		missing = append(missing, "Registerer")
	}
	if len(missing) > 0 {
		return nil, errors.New("alertmanager: handler: " + strings.Join(missing, ", ") + " required")
	}
	if o.MaxBodyBytes < 0 || o.MaxInFlight < 0 {
		return nil, errors.New("alertmanager: handler: MaxBodyBytes and MaxInFlight must not be negative")
	}
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.MaxInFlight == 0 {
		o.MaxInFlight = DefaultMaxInFlight
	}
	m, err := newHandlerMetrics(o.Registerer)
	if err != nil {
		return nil, errors.Join(errors.New("alertmanager: handler: register metrics"), err)
	}
	h := &Handler{
		deliver:  o.Deliver,
		busy:     o.Busy,
		maxBytes: o.MaxBodyBytes,
		slots:    make(chan struct{}, o.MaxInFlight),
		log:      o.Logger.With("component", "alertmanager.webhook"),
		m:        m,
	}
	h.SetBearerToken(o.BearerToken)
	return h, nil
}

// answerBusy answers 503 with Retry-After, which Alertmanager retries.
func (h *Handler) answerBusy(w http.ResponseWriter, err error) {
	h.m.notifications.WithLabelValues(OutcomeBusy).Inc()
	w.Header().Set("Retry-After", "5")
	writeError(w, http.StatusServiceUnavailable, "busy", err.Error())
}

// SetBearerToken replaces the token requests must carry, for a token rotated while the bot
// runs; the old one is refused from the next request on. An empty token requires none.
func (h *Handler) SetBearerToken(token string) {
	if token == "" {
		h.tokenHash.Store(nil)
		return
	}
	sum := sha256.Sum256([]byte(token))
	h.tokenHash.Store(&sum)
}

// ServeHTTP answers 405 to anything but POST, 401 without the bearer token, 413 to a body over
// the limit, 400 with a JSON error to an invalid payload (delivering nothing), 503 when the
// request ends while waiting for a slot, 500 when Deliver fails and 200 once Deliver has
// accepted the message.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		h.m.notifications.WithLabelValues(OutcomeMethodNotAllowed).Inc()
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "use POST")
		return
	}
	if want := h.tokenHash.Load(); want != nil && !authorized(r, want) {
		h.m.notifications.WithLabelValues(OutcomeUnauthorized).Inc()
		w.Header().Set("WWW-Authenticate", `Bearer realm="smartcloudops"`)
		writeError(w, http.StatusUnauthorized, "unauthorized", "missing or wrong bearer token")
		return
	}
	if r.ContentLength > h.maxBytes {
		h.tooLarge(w, r)
		return
	}
	if h.busy != nil && h.busy() {
		h.answerBusy(w, ErrBusy)
		return
	}
	select {
	case h.slots <- struct{}{}:
		defer func() { <-h.slots }()
	case <-r.Context().Done():
		h.m.notifications.WithLabelValues(OutcomeCanceled).Inc()
		writeError(w, http.StatusServiceUnavailable, "busy", "request ended while waiting for a free slot; retry")
		return
	}
	body := http.MaxBytesReader(w, r.Body, h.maxBytes)
	buf, _ := h.bufs.Get().(*bytes.Buffer)
	if buf == nil {
		buf = new(bytes.Buffer)
	}
	msg, err := parse(body, h.maxBytes, buf)
	if buf.Cap() <= maxPooledBuffer {
		h.bufs.Put(buf)
	}
	var perr *PayloadError
	switch {
	case errors.Is(err, ErrTooLarge):
		h.tooLarge(w, r)
		return
	case errors.As(err, &perr):
		h.m.notifications.WithLabelValues(OutcomeBadPayload).Inc()
		h.log.Warn("rejected Alertmanager webhook payload", "remote", r.RemoteAddr, "err", perr)
		writeError(w, http.StatusBadRequest, "bad_payload", perr.Error())
		return
	case err != nil:
		h.m.notifications.WithLabelValues(OutcomeReadError).Inc()
		h.log.Warn("could not read Alertmanager webhook body", "remote", r.RemoteAddr, "err", err)
		writeError(w, http.StatusBadRequest, "read_error", "could not read the request body")
		return
	}
	firing := msg.Firing()
	h.m.alerts.WithLabelValues(StatusFiring).Add(float64(firing))
	h.m.alerts.WithLabelValues(StatusResolved).Add(float64(len(msg.Alerts) - firing))
	if err := h.deliver(r.Context(), msg); errors.Is(err, ErrBusy) {
		h.answerBusy(w, err)
		return
	} else if err != nil {
		h.m.notifications.WithLabelValues(OutcomeDeliverError).Inc()
		h.log.Error("delivering Alertmanager notification failed; Alertmanager will retry",
			"group_key", msg.GroupKey, "receiver", msg.Receiver, "alerts", len(msg.Alerts), "err", err)
		writeError(w, http.StatusInternalServerError, "deliver_failed", "the notification could not be stored; retry")
		return
	}
	h.m.notifications.WithLabelValues(OutcomeDelivered).Inc()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
}

func authorized(r *http.Request, want *[sha256.Size]byte) bool {
	const prefix = "bearer "
	v := r.Header.Get("Authorization")
	if len(v) < len(prefix) || !strings.EqualFold(v[:len(prefix)], prefix) {
		return false
	}
	// Comparing fixed-size hashes keeps the comparison constant-time in the token's length too.
	got := sha256.Sum256([]byte(strings.TrimSpace(v[len(prefix):])))
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1
}

func (h *Handler) tooLarge(w http.ResponseWriter, r *http.Request) {
	h.m.notifications.WithLabelValues(OutcomeTooLarge).Inc()
	h.log.Warn("rejected oversized Alertmanager webhook body", "remote", r.RemoteAddr, "limit_bytes", h.maxBytes)
	w.Header().Set("Connection", "close")
	writeError(w, http.StatusRequestEntityTooLarge, "too_large",
		"body exceeds the limit of "+strconv.FormatInt(h.maxBytes, 10)+" bytes; lower max_alerts in the webhook receiver")
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(errorBody{Error: errorDetail{Code: code, Message: message}})
}
