package script

import (
	"errors"
	"fmt"
	"strings"
)

// ErrNotAllowed is returned when the requested script is not in the allow-list or its name tries
// to leave the allowed directory.
var ErrNotAllowed = errors.New("not allowed")

// ErrTimeout is returned when a script ran longer than Options.Timeout and its process group was
// killed.
var ErrTimeout = errors.New("timed out")

// ExitError reports a script that ran and exited with a non-zero status or was killed by a signal.
type ExitError struct {
	Script string // the name as given in the parameters
	Code   int    // exit status; -1 when the process was killed by a signal
	Output string // captured output, capped like Result.Output
}

// Error implements error. It includes the last line of output, which is usually the reason.
func (e *ExitError) Error() string {
	msg := fmt.Sprintf("script %s: exit status %d", e.Script, e.Code)
	if last := lastLine(e.Output); last != "" {
		msg += ": " + last
	}
	return msg
}

func lastLine(s string) string {
	lines := strings.Split(s, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" && l != truncatedMarker {
			if len(l) > 200 {
				l = l[:200] + "..."
			}
			return l
		}
	}
	return ""
}
