package alertmanager

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MatchType is a matcher's operator.
type MatchType string

// The four matcher operators of Alertmanager.
const (
	MatchEqual     MatchType = "="
	MatchNotEqual  MatchType = "!="
	MatchRegexp    MatchType = "=~"
	MatchNotRegexp MatchType = "!~"
)

// Matcher selects alerts by one label, as in Alertmanager silences and filters. Regular
// expressions are anchored at both ends, as Alertmanager anchors them.
type Matcher struct {
	Name  string
	Type  MatchType
	Value string
}

// String renders m in the syntax ParseMatchers reads, with the value quoted.
func (m Matcher) String() string {
	return m.Name + string(m.Type) + strconv.Quote(m.Value)
}

// Validate checks the name, the operator, that the value is UTF-8 as Alertmanager requires of
// label values and, for regular expressions, that the value compiles.
func (m Matcher) Validate() error {
	if !validLabelName(m.Name) {
		return fmt.Errorf("matcher %s: invalid label name %q", m, m.Name)
	}
	if !utf8.ValidString(m.Value) {
		// JSON would turn the bad bytes into U+FFFD, so Alertmanager would get another value.
		return fmt.Errorf("matcher %s: value is not valid UTF-8", m)
	}
	switch m.Type {
	case MatchEqual, MatchNotEqual:
	case MatchRegexp, MatchNotRegexp:
		if _, err := regexp.Compile("^(?:" + m.Value + ")$"); err != nil {
			return fmt.Errorf("matcher %s: invalid regular expression: %w", m, err)
		}
	default:
		return fmt.Errorf("matcher %s: unknown operator %q", m, string(m.Type))
	}
	return nil
}

// Matches reports whether a label value v (empty when the label is absent) satisfies m. It
// returns false for a matcher whose regular expression does not compile.
func (m Matcher) Matches(v string) bool {
	switch m.Type {
	case MatchEqual:
		return v == m.Value
	case MatchNotEqual:
		return v != m.Value
	case MatchRegexp, MatchNotRegexp:
		re, err := regexp.Compile("^(?:" + m.Value + ")$")
		if err != nil {
			return false
		}
		return re.MatchString(v) == (m.Type == MatchRegexp)
	}
	return false
}

func validLabelName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		letter := c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
		if !letter && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// maxMatcherInput bounds what ParseMatchers reads; chat lines are far shorter.
const maxMatcherInput = 4096

// ParseMatchers reads a list of matchers as typed in chat, separated by commas or spaces, with or
// without surrounding braces: `alertname="HostHighCpu",instance=~"web-.*"`,
// `service=web asg=web-asg` or `{severity!="info", job!~"test.*"}`. Values are double-quoted
// strings with Go escapes, or bare words without spaces, commas, quotes, braces or the operator
// characters = ! ~ (a bare `service= asg=web` is refused rather than read as service="asg=web").
// A trailing comma is allowed. Errors give the 1-based column of the problem.
func ParseMatchers(s string) ([]Matcher, error) {
	if len(s) > maxMatcherInput {
		return nil, fmt.Errorf("matchers: input is %d bytes, longer than %d", len(s), maxMatcherInput)
	}
	p := &matcherParser{s: s}
	p.skipSpace()
	braced := p.peek() == '{'
	if braced {
		p.pos++
	}
	var out []Matcher
	for {
		p.skipSpace()
		if p.eof() || (braced && p.peek() == '}') {
			break
		}
		m, err := p.matcher()
		if err != nil {
			return nil, err
		}
		out = append(out, m)
		end := p.pos
		p.skipSpace()
		if p.peek() == ',' {
			p.pos++
			continue
		}
		if p.eof() || (braced && p.peek() == '}') {
			break
		}
		if p.pos > end && startsLabelName(p.peek()) {
			continue // separated by spaces, as in `service=web asg=web-asg`
		}
		return nil, p.errorf("expected ',' or a space after matcher %s, found %s", m, p.found())
	}
	if braced {
		if p.peek() != '}' {
			return nil, p.errorf("expected '}' to close '{', found %s", p.found())
		}
		p.pos++
	}
	p.skipSpace()
	if !p.eof() {
		return nil, p.errorf("unexpected %s after the matchers", p.found())
	}
	if len(out) == 0 {
		return nil, errors.New("matchers: no matchers given; write for example alertname=\"HostHighCpu\"")
	}
	return out, nil
}

type matcherParser struct {
	s   string
	pos int
}

func (p *matcherParser) eof() bool { return p.pos >= len(p.s) }

func (p *matcherParser) peek() byte {
	if p.eof() {
		return 0
	}
	return p.s[p.pos]
}

func (p *matcherParser) skipSpace() {
	for !p.eof() && (p.s[p.pos] == ' ' || p.s[p.pos] == '\t' || p.s[p.pos] == '\n' || p.s[p.pos] == '\r') {
		p.pos++
	}
}

func (p *matcherParser) found() string {
	if p.eof() {
		return "end of input"
	}
	return strconv.Quote(truncate(p.s[p.pos:], 20))
}

func (p *matcherParser) errorf(format string, args ...any) error {
	return fmt.Errorf("matchers: column %d: %s", p.pos+1, fmt.Sprintf(format, args...))
}

func startsLabelName(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func (p *matcherParser) matcher() (Matcher, error) {
	start := p.pos
	for !p.eof() {
		c := p.s[p.pos]
		if c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (p.pos > start && c >= '0' && c <= '9') {
			p.pos++
			continue
		}
		break
	}
	name := p.s[start:p.pos]
	if name == "" {
		return Matcher{}, p.errorf("expected a label name, found %s", p.found())
	}
	p.skipSpace()
	var op MatchType
	switch {
	case strings.HasPrefix(p.s[p.pos:], "=~"):
		op = MatchRegexp
	case strings.HasPrefix(p.s[p.pos:], "!~"):
		op = MatchNotRegexp
	case strings.HasPrefix(p.s[p.pos:], "!="):
		op = MatchNotEqual
	case strings.HasPrefix(p.s[p.pos:], "=="):
		return Matcher{}, p.errorf("'==' is not an operator; use '=' after %q", truncate(name, 40))
	case strings.HasPrefix(p.s[p.pos:], "="):
		op = MatchEqual
	default:
		return Matcher{}, p.errorf("expected an operator (=, !=, =~, !~) after %q, found %s", truncate(name, 40), p.found())
	}
	p.pos += len(op)
	p.skipSpace()
	value, err := p.value()
	if err != nil {
		return Matcher{}, err
	}
	m := Matcher{Name: name, Type: op, Value: value}
	if err := m.Validate(); err != nil {
		return Matcher{}, fmt.Errorf("matchers: column %d: %w", start+1, err)
	}
	return m, nil
}

func (p *matcherParser) value() (string, error) {
	if p.peek() == '"' {
		start := p.pos
		p.pos++
		for !p.eof() {
			switch p.s[p.pos] {
			case '\\':
				p.pos += 2
				continue
			case '"':
				p.pos++
				v, err := strconv.Unquote(p.s[start:p.pos])
				if err != nil {
					p.pos = start
					return "", p.errorf("invalid quoted value %s", strconv.Quote(truncate(p.s[start:], 40)))
				}
				return v, nil
			}
			p.pos++
		}
		p.pos = start
		return "", p.errorf("unterminated quoted value %s", strconv.Quote(truncate(p.s[start:], 40)))
	}
	start := p.pos
	for !p.eof() {
		c := p.s[p.pos]
		if c == ',' || c == '}' || c == '{' || c == '"' || c == ' ' || c == '\t' || c == '\n' || c == '\r' {
			break
		}
		p.pos++
	}
	if p.pos == start {
		return "", p.errorf("expected a value, found %s", p.found())
	}
	v := p.s[start:p.pos]
	if i := strings.IndexAny(v, "=!~"); i >= 0 {
		p.pos = start
		return "", p.errorf("the value %s holds %q; quote it (%s) if that is meant, or put a space or comma between matchers",
			truncate(v, 40), v[i], strconv.Quote(truncate(v, 40)))
	}
	return v, nil
}
