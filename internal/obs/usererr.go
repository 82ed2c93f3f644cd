package obs

import (
	"errors"
	"fmt"
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
