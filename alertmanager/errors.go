package alertmanager

import (
	"errors"
	"strconv"
)

// ErrTooLarge is returned by Parse when the payload is longer than its byte limit.
var ErrTooLarge = errors.New("alertmanager: payload too large")

// ErrNotFound is returned by the Client when Alertmanager does not know the silence.
var ErrNotFound = errors.New("alertmanager: not found")

// PayloadError is returned by Parse for a payload that is not a valid version 4 webhook
// message. Its message is safe to show to the sender.
type PayloadError struct {
	// Field locates the problem, such as "alerts[3].labels" or "version"; empty for JSON syntax.
	Field string
	// Offset is the byte offset of a JSON syntax or type error; -1 when it does not apply.
	Offset int64
	// Reason says what is wrong.
	Reason string
}

func (e *PayloadError) Error() string {
	s := "alertmanager: payload: "
	if e.Field != "" {
		s += e.Field
		if e.Offset >= 0 {
			s += " (byte " + strconv.FormatInt(e.Offset, 10) + ")"
		}
		s += ": "
	} else if e.Offset >= 0 {
		s += "byte " + strconv.FormatInt(e.Offset, 10) + ": "
	}
	return s + e.Reason
}
