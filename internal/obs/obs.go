// Package obs owns the bot's observability plumbing shared by every stage of the flow: the slog
// logger (text on a terminal, JSON otherwise), the log keys, and correlation IDs. A correlation ID
// is created at each entry point (a chat command, a button click, a detector tick, an HTTP
// request), rides in the context, is stamped on every log record by the handler wrapper, and is
// copied into chat replies and audit records, so one ID ties together everything a single cause did.
// A Redactor holds the secret values the bot resolved; RedactHandler runs every log record
// through it, and the chat boundary and the readiness detail do the same, so a secret quoted
// back in a remote error body is never logged or shown.
package obs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"strings"
)

// Log keys used across packages.
const (
	KeyComponent   = "component"
	KeyCorrelation = "cid"
	KeyErr         = "err"
	KeyCheck       = "check"
	KeyRule        = "rule"
	KeyProposal    = "proposal"
	KeyIncident    = "incident"
	KeyUser        = "user"
	KeyPlatform    = "platform"
	KeyAction      = "action"
)

type cidKey struct{}

// NewCorrelationID returns a short random ID such as "c-5f1e2a9b0c".
func NewCorrelationID() string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return "c-" + hex.EncodeToString(b[:])
}

// WithCorrelation returns ctx carrying id.
func WithCorrelation(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, cidKey{}, id)
}

// Correlation returns the correlation ID in ctx, or "".
func Correlation(ctx context.Context) string {
	id, _ := ctx.Value(cidKey{}).(string)
	return id
}

// EnsureCorrelation returns ctx with a correlation ID, creating one if ctx has none.
func EnsureCorrelation(ctx context.Context) (context.Context, string) {
	if id := Correlation(ctx); id != "" {
		return ctx, id
	}
	id := NewCorrelationID()
	return WithCorrelation(ctx, id), id
}

// LogOptions configures NewLogger.
type LogOptions struct {
	Level  string // debug, info, warn, error; default info
	Format string // text, json, or "" to pick text on a terminal and JSON otherwise
}

// NewLogger builds the process logger writing to w.
func NewLogger(w io.Writer, o LogOptions) *slog.Logger {
	var lvl slog.Level
	switch strings.ToLower(o.Level) {
	case "debug":
		lvl = slog.LevelDebug
	case "warn", "warning":
		lvl = slog.LevelWarn
	case "error":
		lvl = slog.LevelError
	}
	format := o.Format
	if format == "" {
		format = "json"
		if f, ok := w.(*os.File); ok && isTerminal(f) {
			format = "text"
		}
	}
	hopts := &slog.HandlerOptions{Level: lvl}
	var h slog.Handler
	if format == "text" {
		h = slog.NewTextHandler(w, hopts)
	} else {
		h = slog.NewJSONHandler(w, hopts)
	}
	return slog.New(correlationHandler{h})
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// correlationHandler stamps the context's correlation ID on every record.
type correlationHandler struct{ slog.Handler }

func (h correlationHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := Correlation(ctx); id != "" {
		r.AddAttrs(slog.String(KeyCorrelation, id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h correlationHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return correlationHandler{h.Handler.WithAttrs(as)}
}

func (h correlationHandler) WithGroup(name string) slog.Handler {
	return correlationHandler{h.Handler.WithGroup(name)}
}

// Discard is a logger that drops everything, for tests and optional collaborators.
func Discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// Secret is a string that never appears in logs, fmt output or JSON.
type Secret string

// String redacts the secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// LogValue redacts the secret in slog records.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText redacts the secret in JSON and YAML output.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Reveal returns the secret's value, for the one place that hands it to a client library.
func (s Secret) Reveal() string { return string(s) }
