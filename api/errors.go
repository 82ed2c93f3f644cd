package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/smartcloudops/smartcloudops/internal/obs"
)

// Stable error codes of the JSON error body. Clients may branch on them; messages may change.
const (
	CodeBadRequest       = "bad_request"        // 400: malformed JSON, bad parameters or query
	CodeUnauthorized     = "unauthorized"       // 401: no key, an unknown key, or an expired or revoked one
	CodeForbidden        = "forbidden"          // 403: the key's role or the proposal's policy refuses it
	CodeNotFound         = "not_found"          // 404: no such incident, proposal, rule, check or endpoint
	CodeMethodNotAllowed = "method_not_allowed" // 405: the path exists for other methods
	CodeConflict         = "conflict"           // 409: the proposal is no longer pending, or already approved by this key
	CodeTooLarge         = "too_large"          // 413: the body is over the size cap
	CodeUnsupportedMedia = "unsupported_media"  // 415: a body that is not application/json
	CodeRateLimited      = "rate_limited"       // 429: over the key's rate; see Retry-After
	CodeInternal         = "internal"           // 500: logged in full; the message names the request ID
	CodeTimeout          = "timeout"            // 503: the handler ran past its time limit
	CodeUnavailable      = "unavailable"        // 503: a service the bot depends on (Alertmanager, Prometheus, the system an action calls) is unreachable, throttled or did not answer; try later
)

// Error is an API error: a status, a stable code and a message safe to show to the caller.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

// quoteClipped quotes what a caller sent for an error message, shortened to its first 64
// characters: an error never echoes a request's text in full.
func quoteClipped(s string) string {
	const max = 64
	r := []rune(s)
	if len(r) <= max {
		return strconv.Quote(s)
	}
	return strconv.Quote(string(r[:max])) + "…"
}

func errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) *Error {
	return errorf(http.StatusBadRequest, CodeBadRequest, format, args...)
}

func notFound(format string, args ...any) *Error {
	return errorf(http.StatusNotFound, CodeNotFound, format, args...)
}

// errorBody is the JSON shape of every error response.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"request_id,omitempty"`
}

// writeError writes e as JSON with the request's correlation ID.
func writeError(w http.ResponseWriter, r *http.Request, e *Error) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(e.Status)
	_ = json.NewEncoder(w).Encode(errorBody{Error: errorDetail{Code: e.Code, Message: e.Message, RequestID: obs.Correlation(r.Context())}})
}

// internalError is the only thing a caller sees of an unexpected error.
func internalError(r *http.Request) *Error {
	return errorf(http.StatusInternalServerError, CodeInternal, "internal error (ref %s)", obs.Correlation(r.Context()))
}

// writeJSON writes v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
	return nil
}
