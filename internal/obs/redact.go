package obs

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
)

// Redacted replaces a secret value found in text.
const Redacted = "[redacted]"

// MinRedactLen is the shortest secret value Redact replaces: shorter values would match
// ordinary words and numbers all over a log line.
const MinRedactLen = 4

// Redactor removes known secret values from text. The app adds every secret it resolves, and
// text that may quote one back — an error body from a remote service, a log line, a chat reply,
// the readiness detail — goes through Redact before anyone sees it. The zero value is not
// usable; create one with NewRedactor. It is safe for concurrent use.
type Redactor struct {
	mu      sync.RWMutex
	secrets map[string]bool
	r       *strings.Replacer // nil while there is nothing to redact
}

// NewRedactor returns an empty Redactor.
func NewRedactor() *Redactor { return &Redactor{secrets: map[string]bool{}} }

// Add makes Redact replace v, and v as it appears in a URL query, from now on. Values shorter
// than MinRedactLen are ignored.
func (r *Redactor) Add(v string) {
	if r == nil || len(v) < MinRedactLen {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.secrets[v] {
		return
	}
	r.secrets[v] = true
	if q := url.QueryEscape(v); q != v {
		r.secrets[q] = true
	}
	// Longest first, so a secret that contains another is replaced whole.
	vals := make([]string, 0, len(r.secrets))
	for s := range r.secrets {
		vals = append(vals, s)
	}
	slices.SortFunc(vals, func(a, b string) int { return len(b) - len(a) })
	pairs := make([]string, 0, 2*len(vals))
	for _, s := range vals {
		pairs = append(pairs, s, Redacted)
	}
	r.r = strings.NewReplacer(pairs...)
}

// Redact returns s with every known secret value replaced by Redacted.
func (r *Redactor) Redact(s string) string {
	if r == nil {
		return s
	}
	r.mu.RLock()
	rep := r.r
	r.mu.RUnlock()
	if rep == nil || s == "" {
		return s
	}
	return rep.Replace(s)
}

// RedactHandler wraps h so that every record's message and attribute values (strings, errors,
// anything printed with %v) pass through r before h sees them.
func RedactHandler(h slog.Handler, r *Redactor) slog.Handler { return redactHandler{h: h, r: r} }

type redactHandler struct {
	h slog.Handler
	r *Redactor
}

func (h redactHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.h.Enabled(ctx, l) }

func (h redactHandler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, h.r.Redact(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.h.Handle(ctx, out)
}

func (h redactHandler) WithAttrs(as []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(as))
	for i, a := range as {
		red[i] = h.attr(a)
	}
	return redactHandler{h: h.h.WithAttrs(red), r: h.r}
}

func (h redactHandler) WithGroup(name string) slog.Handler {
	return redactHandler{h: h.h.WithGroup(name), r: h.r}
}

func (h redactHandler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, h.r.Redact(v.String()))
	case slog.KindGroup:
		g := v.Group()
		red := make([]any, len(g))
		for i, ga := range g {
			red[i] = h.attr(ga)
		}
		return slog.Group(a.Key, red...)
	case slog.KindAny:
		var s string
		switch x := v.Any().(type) {
		case error:
			s = x.Error()
		case fmt.Stringer:
			s = x.String()
		default:
			s = fmt.Sprint(x)
		}
		if red := h.r.Redact(s); red != s {
			return slog.String(a.Key, red)
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}
