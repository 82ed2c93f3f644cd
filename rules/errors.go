package rules

import (
	"errors"
	"fmt"
)

// Errors returned by the package; match them with errors.Is.
var (
	// ErrUnknownRule is returned by Engine.SetEnabled for a rule name not in the loaded set.
	ErrUnknownRule = errors.New("rules: unknown rule")
	// ErrUnknownGroup is returned by Engine.EvalQueryGroup for a group not in the loaded set.
	ErrUnknownGroup = errors.New("rules: unknown group")
	// ErrNoQuery is returned when a query rule is evaluated but the engine has no QueryFunc.
	ErrNoQuery = errors.New("rules: no QueryFunc configured for query rules")
	// ErrNotSynced is returned by LoadFromStore when no rule set was ever synced.
	ErrNotSynced = errors.New("rules: no rule set synced into the store")
	// ErrBudget is returned when a condition exceeds its evaluation time budget.
	ErrBudget = errors.New("rules: evaluation time budget exceeded")
)

// Error is one problem found in a rule file, with the position of the offending text.
type Error struct {
	File  string // path of the rule file as given to Load
	Line  int    // 1-based line in the file, 0 when unknown
	Col   int    // 1-based column in the file, 0 when unknown
	Field string // path of the field, such as "groups[0].rules[2].when"
	Msg   string // what is wrong
	Text  string // the offending text, quoted in the message when set
}

// Error formats the problem as "file:line:col: field: message: text".
func (e *Error) Error() string {
	s := e.File
	if e.Line > 0 {
		s += fmt.Sprintf(":%d:%d", e.Line, e.Col)
	}
	if e.Field != "" {
		s += ": " + e.Field
	}
	s += ": " + e.Msg
	if e.Text != "" {
		t := e.Text
		if len(t) > 120 {
			t = t[:117] + "..."
		}
		s += fmt.Sprintf(": %q", t)
	}
	return s
}
