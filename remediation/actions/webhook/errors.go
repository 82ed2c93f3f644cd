package webhook

import (
	"errors"
	"fmt"
)

// ErrHostNotAllowed is returned when the URL's host is not in Options.AllowedHosts.
var ErrHostNotAllowed = errors.New("host not allowed")

// ErrBadSignature is returned by Verify when a signature is missing, malformed, stale or wrong.
var ErrBadSignature = errors.New("bad webhook signature")

// StatusError reports a response outside 2xx after the last attempt.
type StatusError struct {
	URL      string // the URL without query or credentials
	Code     int    // HTTP status code
	Body     string // start of the response body
	Attempts int    // attempts made
}

// Error implements error.
func (e *StatusError) Error() string {
	msg := fmt.Sprintf("webhook %s: HTTP %d after %d attempt(s)", e.URL, e.Code, e.Attempts)
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

// Retryable reports whether the status is one the action retries (5xx).
func (e *StatusError) Retryable() bool { return e.Code >= 500 }
