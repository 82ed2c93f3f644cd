package obs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
)

// UserError is an error caused by what a person asked for (an unknown proposal, a missing role,
// a malformed command). Its text is safe to show them; every other error is logged in full and
// shown only as "internal error (ref <correlation id>)".
type UserError struct{ msg string }

func (e *UserError) Error() string { return e.msg }

// UserErrorf returns a UserError with a formatted message.
func UserErrorf(format string, args ...any) error {
	return &UserError{fmt.Sprintf(format, args...)}
}

// IsUser reports whether err (or an error it wraps) is a UserError.
func IsUser(err error) bool {
	var ue *UserError
	return errors.As(err, &ue)
}

// UnavailableError says a service the bot depends on (Alertmanager, Prometheus, a chat platform,
// AWS) could not be reached or failed. Its text names the service, where it was looked for and
// the cause, so it is safe and useful to show a person instead of "internal error"; it is logged
// as well.
type UnavailableError struct {
	Service string // such as "Alertmanager"
	Addr    string // where it was looked for, such as "http://127.0.0.1:9093"
	Err     error
}

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("%s at %s is unreachable: %s", e.Service, e.Addr, Cause(e.Err))
}

func (e *UnavailableError) Unwrap() error { return e.Err }

// IsUnavailable reports whether err (or an error it wraps) is an UnavailableError.
func IsUnavailable(err error) bool {
	var ue *UnavailableError
	return errors.As(err, &ue)
}

// Cause is the innermost useful text of a network error: "connection refused" rather than
// `Post "http://…": dial tcp 127.0.0.1:9093: connect: connection refused`.
func Cause(err error) string {
	if err == nil {
		return "unknown error"
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		if dns.IsNotFound {
			return "no such host " + dns.Name
		}
		return dns.Err
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		var se *os.SyscallError
		if errors.As(op.Err, &se) {
			return se.Err.Error()
		}
		return op.Err.Error()
	}
	var te interface{ Timeout() bool }
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &te) && te.Timeout() {
		return "no answer in time"
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "the connection was closed before an answer"
	}
	return err.Error()
}
