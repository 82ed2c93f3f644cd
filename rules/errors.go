package rules

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
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

// The YAML parser reports a problem with at most a line, counted in ways that vary with the
// kind of problem, and with no line at all for some: characters its reader refuses (invalid
// UTF-8, control characters), unknown anchors, and anything on the first line. yamlError
// finds the position of those itself, from the file's text and by asking the parser again
// about parts of it.

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlMessage splits a YAML parser error into its line (0 when none) and its message.
func yamlMessage(err error) (int, string) {
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return line, m[2]
	}
	return 0, strings.TrimPrefix(msg, "yaml: ")
}

// yamlReaderProblems are the messages of the parser's reader, which checks the encoding and
// the allowed characters before anything is parsed.
var yamlReaderProblems = map[string]bool{
	"invalid leading UTF-8 octet":        true,
	"incomplete UTF-8 octet sequence":    true,
	"invalid trailing UTF-8 octet":       true,
	"invalid length of a UTF-8 sequence": true,
	"invalid Unicode character":          true,
	"control characters are not allowed": true,
	"incomplete UTF-16 character":        true,
	"unexpected low surrogate area":      true,
	"incomplete UTF-16 surrogate pair":   true,
	"expected low surrogate area":        true,
}

// yamlLocalProblems are scanner problems raised at the character that causes them, so the
// shortest prefix of the file that gives the same problem ends with that character.
var yamlLocalProblems = []string{
	"found character that cannot start any token",
	"exceeded max depth of ",
	"mapping values are not allowed in this context",
	"mapping keys are not allowed in this context",
	"block sequence entries are not allowed in this context",
	"found unknown escape character",
	"did not find expected hexdecimal number",
	"found invalid Unicode character escape code",
	"found a tab character that violates indentation",
	"found a tab character where an indentation space is expected",
}

var unknownAnchorRE = regexp.MustCompile(`^unknown anchor '([0-9A-Za-z_-]+)' referenced$`)

// yamlError turns an error of yaml.Unmarshal on data into an *Error with a position.
func yamlError(name string, data []byte, err error) *Error {
	line, msg := yamlMessage(err)
	e := &Error{File: name, Line: line, Field: "yaml", Msg: msg}
	if line > 0 {
		e.Col = 1
	}
	text, bad, badLen := yamlText(data)
	switch {
	case yamlReaderProblems[msg]:
		if bad >= 0 {
			e.Line, e.Col = lineCol(text, bad)
			e.Text = string(text[bad : bad+badLen])
		}
		return e
	case bad >= 0:
		// Not a reader problem, yet the text has a character the reader refuses: the parser
		// stopped before it. Search only the text before it, which the parser accepts.
		text = text[:bad]
	}
	if m := unknownAnchorRE.FindStringSubmatch(msg); m != nil {
		if off := unknownAlias(text, m[1], msg); off >= 0 {
			e.Line, e.Col = lineCol(text, off)
		}
		return e
	}
	local := false
	for _, p := range yamlLocalProblems {
		local = local || strings.HasPrefix(msg, p)
	}
	if line > 0 && !local {
		// The parser's line for this problem is where the enclosing construct starts, and
		// what goes wrong may depend on text far after it: keep the parser's line.
		return e
	}
	// With no line the problem is on the first line (the parser counts lines from 0 and
	// drops a line 0); otherwise it is on or after the reported line.
	from := 0
	if line > 0 {
		from = lineStart(text, line)
	}
	if off := firstPrefixWith(text, from, msg); off >= 0 {
		l, c := lineCol(text, off)
		if line == 0 && l == 1 || line > 0 && l >= line {
			e.Line, e.Col = l, c
			return e
		}
	}
	if line == 0 {
		e.Line, e.Col = 1, 1
	}
	return e
}

// yamlText returns data as the YAML reader sees it: UTF-8 without a byte order mark (UTF-16
// with a byte order mark is converted, up to and including the first unit it cannot take).
// bad is the offset in text of the first character the reader refuses, with its length in
// bytes, or -1.
func yamlText(data []byte) (text []byte, bad, badLen int) {
	if len(data) >= 2 && (data[0] == 0xff && data[1] == 0xfe || data[0] == 0xfe && data[1] == 0xff) {
		return utf16Text(data[2:], data[0] == 0xff)
	}
	text = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	for i := 0; i < len(text); {
		r, n := utf8.DecodeRune(text[i:])
		if r == utf8.RuneError && n <= 1 || !yamlAllowed(r) {
			if n < 1 {
				n = 1
			}
			return text, i, n
		}
		i += n
	}
	return text, -1, 0
}

// utf16Text converts UTF-16 to UTF-8 up to the first unit that is not valid UTF-16 or a
// refused character; the problem, when there is one, is the last character of text.
func utf16Text(data []byte, little bool) ([]byte, int, int) {
	unit := func(i int) rune {
		if little {
			return rune(data[i]) | rune(data[i+1])<<8
		}
		return rune(data[i])<<8 | rune(data[i+1])
	}
	var text []byte
	for i := 0; i < len(data); {
		if i+1 >= len(data) {
			return append(text, '?'), len(text), 1
		}
		r, n := unit(i), 2
		switch {
		case r >= 0xdc00 && r <= 0xdfff:
			r = -1
		case r >= 0xd800 && r <= 0xdbff:
			if i+3 >= len(data) || unit(i+2) < 0xdc00 || unit(i+2) > 0xdfff {
				r = -1
			} else {
				r, n = utf16.DecodeRune(r, unit(i+2)), 4
			}
		}
		if r < 0 || !yamlAllowed(r) {
			bad := len(text)
			if r < 0 {
				r = utf8.RuneError
			}
			text = utf8.AppendRune(text, r)
			return text, bad, len(text) - bad
		}
		text = utf8.AppendRune(text, r)
		i += n
	}
	return text, -1, 0
}

// yamlAllowed reports whether the YAML reader accepts the character r.
func yamlAllowed(r rune) bool {
	switch {
	case r == 0x09, r == 0x0a, r == 0x0d, r >= 0x20 && r <= 0x7e, r == 0x85:
		return true
	case r >= 0xa0 && r <= 0xd7ff, r >= 0xe000 && r <= 0xfffd, r >= 0x10000 && r <= 0x10ffff:
		return true
	}
	return false
}

// lineCol returns the 1-based line and column of the byte offset off in text, counted as the
// YAML parser counts them: columns in characters, lines broken by \n, \r, \r\n, U+0085,
// U+2028 and U+2029.
func lineCol(text []byte, off int) (int, int) {
	line, col := 1, 1
	for i := 0; i < off && i < len(text); {
		r, n := utf8.DecodeRune(text[i:])
		i += n
		switch r {
		case '\r':
			if i < len(text) && text[i] == '\n' {
				continue // the \n ends the line
			}
			line, col = line+1, 1
		case '\n', 0x85, 0x2028, 0x2029:
			line, col = line+1, 1
		default:
			col++
		}
	}
	return line, col
}

// lineStart returns the offset of the start of a 1-based line of text, as lineCol counts
// lines, or len(text) when text has fewer lines.
func lineStart(text []byte, line int) int {
	for i := 0; i < len(text) && line > 1; {
		r, n := utf8.DecodeRune(text[i:])
		i += n
		switch {
		case r == '\r' && i < len(text) && text[i] == '\n':
		case r == '\r', r == '\n', r == 0x85, r == 0x2028, r == 0x2029:
			line--
		}
		if line == 1 {
			return i
		}
	}
	if line > 1 {
		return len(text)
	}
	return 0
}

// yamlProblem returns the message yaml.Unmarshal gives for text, without its line, or "".
func yamlProblem(text []byte) string {
	var doc yaml.Node
	if err := yaml.Unmarshal(text, &doc); err != nil {
		_, msg := yamlMessage(err)
		return msg
	}
	return ""
}

// firstPrefixWith returns the offset of the last character of the shortest prefix of text,
// longer than from bytes, that the parser refuses with msg; -1 when neither the prefix of
// from bytes passes nor the whole text fails with msg. It cuts text only between
// characters, since a cut character would be a different problem.
func firstPrefixWith(text []byte, from int, msg string) int {
	if yamlProblem(text) != msg || yamlProblem(text[:from]) == msg {
		return -1
	}
	lo, hi := from, len(text) // the prefix of lo bytes passes, that of hi bytes fails with msg
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		for mid > lo && !utf8.RuneStart(text[mid]) {
			mid--
		}
		if mid == lo {
			mid = lo + (hi-lo)/2
			for mid < hi && !utf8.RuneStart(text[mid]) {
				mid++
			}
			if mid == hi {
				break
			}
		}
		if yamlProblem(text[:mid]) == msg {
			hi = mid
		} else {
			lo = mid
		}
	}
	_, n := utf8.DecodeLastRune(text[:hi])
	return hi - n
}

// unknownAlias returns the offset of the alias *name on which the parser stops with msg, or
// -1. Each "*name" in text is either that alias, another alias of the name, or text inside a
// scalar or comment; turning the '*' into a letter makes an alias a plain scalar and changes
// nothing else. With only the first k occurrences kept, the parser fails with msg exactly
// when they include the alias it stopped on, so a binary search over k finds it.
func unknownAlias(text []byte, name, msg string) int {
	var at []int
	for i := 0; ; {
		j := bytes.Index(text[i:], []byte("*"+name))
		if j < 0 {
			break
		}
		off := i + j
		end := off + 1 + len(name)
		if end == len(text) || !isAnchorChar(text[end]) {
			at = append(at, off)
		}
		i = off + 1
	}
	if len(at) == 0 {
		return -1
	}
	keep := func(k int) bool { // keep the first k occurrences
		b := bytes.Clone(text)
		for _, off := range at[k:] {
			b[off] = 'x'
		}
		return yamlProblem(b) == msg
	}
	lo, hi := 0, len(at)
	if !keep(hi) || keep(lo) {
		return -1
	}
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		if keep(mid) {
			hi = mid
		} else {
			lo = mid
		}
	}
	return at[hi-1]
}

func isAnchorChar(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c == '_' || c == '-'
}
