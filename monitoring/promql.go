package monitoring

import (
	"fmt"
	"strings"
)

// keywords are PromQL words that can stand where a metric name could but never are one: binary
// and set operators, modifiers, and the special float literals. PromQL matches them without
// regard to case.
var keywords = map[string]bool{
	"and": true, "or": true, "unless": true, "atan2": true,
	"bool": true, "offset": true, "start": true, "end": true,
	"inf": true, "nan": true,
}

// groupingKeywords are followed by a parenthesised list of label names.
var groupingKeywords = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true,
	"group_left": true, "group_right": true,
}

// aggregators are PromQL aggregation operators. Unlike functions they may be followed by a
// grouping clause before their argument list (`sum by (job) (x)`), so they are recognised by
// name rather than by the parenthesis that follows.
var aggregators = map[string]bool{
	"sum": true, "avg": true, "count": true, "min": true, "max": true, "group": true,
	"stddev": true, "stdvar": true, "topk": true, "bottomk": true, "count_values": true,
	"quantile": true, "limitk": true, "limit_ratio": true,
}

// MetricNames returns the metric names that the PromQL expression expr selects, each once, in
// the order they first appear. It ignores label names, function names, aggregation operators,
// keywords (by, without, on, ignoring, group_left, group_right, bool, offset, and, or, unless),
// string literals, numbers, durations, ranges and Grafana template variables ($var, ${var},
// [[var]]). A selector written as {__name__="x"} or {"x"} yields x. Unterminated strings and unbalanced
// brackets are errors that name the offset where the problem starts.
func MetricNames(expr string) ([]string, error) {
	l := lexer{src: expr}
	if err := l.run(); err != nil {
		return nil, err
	}
	return l.names, nil
}

type lexer struct {
	src   string
	pos   int
	names []string
	seen  map[string]bool
	// parens counts open parentheses so that a stray ")" is reported.
	parens int
}

func (l *lexer) add(name string) {
	if name == "" {
		return
	}
	if l.seen == nil {
		l.seen = make(map[string]bool)
	}
	if !l.seen[name] {
		l.seen[name] = true
		l.names = append(l.names, name)
	}
}

func (l *lexer) run() error {
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch {
		case isSpace(c):
			l.pos++
		case c == '#':
			l.skipComment()
		case c == '"' || c == '\'' || c == '`':
			if _, err := l.readString(); err != nil {
				return err
			}
		case c == '{':
			if err := l.readMatchers(); err != nil {
				return err
			}
		case c == '[':
			if err := l.skipBrackets(); err != nil {
				return err
			}
		case c == '}' || c == ']':
			return fmt.Errorf("unexpected %q at offset %d", c, l.pos)
		case c == '(':
			l.parens++
			l.pos++
		case c == ')':
			if l.parens == 0 {
				return fmt.Errorf("unexpected ')' at offset %d", l.pos)
			}
			l.parens--
			l.pos++
		case c == '$':
			if err := l.skipVariable(); err != nil {
				return err
			}
		case isDigit(c) || (c == '.' && l.pos+1 < len(l.src) && isDigit(l.src[l.pos+1])):
			l.skipNumber()
		case isIdentStart(c):
			if err := l.readIdentifier(); err != nil {
				return err
			}
		default:
			// Operators, commas, '@' and anything else carry no metric names.
			l.pos++
		}
	}
	if l.parens != 0 {
		return fmt.Errorf("%d unclosed '(' at end of expression", l.parens)
	}
	return nil
}

// readIdentifier reads an identifier and classifies it as keyword, grouping clause, function,
// aggregator or metric name.
func (l *lexer) readIdentifier() error {
	start := l.pos
	for l.pos < len(l.src) && isIdentChar(l.src[l.pos]) {
		l.pos++
	}
	word := l.src[start:l.pos]
	lower := strings.ToLower(word)
	switch {
	case groupingKeywords[lower]:
		// The label list is optional after group_left and group_right.
		if l.peekNonSpace() == '(' {
			return l.skipLabelList()
		}
		return nil
	case keywords[lower] || aggregators[lower]:
		return nil
	case l.peekNonSpace() == '(':
		// A function call: rate(...), histogram_quantile(...).
		return nil
	default:
		l.add(word)
		return nil
	}
}

// readMatchers reads a {…} label matcher block. Label names are skipped; a __name__ equality
// matcher contributes its value as a metric name.
func (l *lexer) readMatchers() error {
	open := l.pos
	l.pos++ // '{'
	lastLabel := ""
	op := ""
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch {
		case c == '}':
			l.pos++
			return nil
		case isSpace(c) || c == ',':
			l.pos++
		case c == '"' || c == '\'' || c == '`':
			v, err := l.readString()
			if err != nil {
				return err
			}
			if lastLabel == "" && op == "" {
				// PromQL 3 quotes names: {"x"} alone selects metric x, {"x"="y"} is a label.
				if next := l.peekNonSpace(); next == '=' || next == '!' {
					lastLabel = v
					continue
				}
				if v != "" {
					l.add(v)
				}
			} else if lastLabel == "__name__" && op == "=" {
				l.add(v)
			}
			lastLabel, op = "", ""
		case c == '=' || c == '!' || c == '~':
			op += string(c)
			l.pos++
		case c == '$':
			if err := l.skipVariable(); err != nil {
				return err
			}
		case isIdentStart(c):
			s := l.pos
			for l.pos < len(l.src) && isIdentChar(l.src[l.pos]) {
				l.pos++
			}
			lastLabel, op = l.src[s:l.pos], ""
		default:
			return fmt.Errorf("unexpected %q in label matchers at offset %d", c, l.pos)
		}
	}
	return fmt.Errorf("unclosed '{' at offset %d", open)
}

// skipBrackets skips a range, subquery or Grafana [[var]] block, allowing nesting.
func (l *lexer) skipBrackets() error {
	open := l.pos
	depth := 0
	for l.pos < len(l.src) {
		switch l.src[l.pos] {
		case '[':
			depth++
		case ']':
			depth--
			if depth == 0 {
				l.pos++
				return nil
			}
		case '"', '\'', '`':
			if _, err := l.readString(); err != nil {
				return err
			}
			continue
		}
		l.pos++
	}
	return fmt.Errorf("unclosed '[' at offset %d", open)
}

// skipLabelList skips the parenthesised label list of a grouping clause.
func (l *lexer) skipLabelList() error {
	for l.pos < len(l.src) && isSpace(l.src[l.pos]) {
		l.pos++
	}
	open := l.pos
	l.pos++ // '('
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch {
		case c == ')':
			l.pos++
			return nil
		case c == '"' || c == '\'' || c == '`':
			// PromQL 3 allows quoted label names.
			if _, err := l.readString(); err != nil {
				return err
			}
		case isIdentChar(c) || isSpace(c) || c == ',' || c == '.':
			l.pos++
		case c == '$':
			if err := l.skipVariable(); err != nil {
				return err
			}
		default:
			return fmt.Errorf("unexpected %q in label list at offset %d", c, l.pos)
		}
	}
	return fmt.Errorf("unclosed '(' at offset %d", open)
}

// skipVariable skips a Grafana template variable: $name or ${name} (with an optional :format).
func (l *lexer) skipVariable() error {
	start := l.pos
	l.pos++ // '$'
	if l.pos < len(l.src) && l.src[l.pos] == '{' {
		end := strings.IndexByte(l.src[l.pos:], '}')
		if end < 0 {
			return fmt.Errorf("unclosed '${' at offset %d", start)
		}
		l.pos += end + 1
		return nil
	}
	for l.pos < len(l.src) && isIdentChar(l.src[l.pos]) {
		l.pos++
	}
	return nil
}

// readString reads a quoted string and returns its content with escapes resolved as far as
// needed to find its end; backquoted strings are raw.
func (l *lexer) readString() (string, error) {
	start := l.pos
	quote := l.src[l.pos]
	l.pos++
	var b strings.Builder
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch {
		case c == quote:
			l.pos++
			return b.String(), nil
		case c == '\\' && quote != '`':
			if l.pos+1 >= len(l.src) {
				return "", fmt.Errorf("unterminated string starting at offset %d", start)
			}
			b.WriteByte(l.src[l.pos+1])
			l.pos += 2
		case c == '\n' && quote != '`':
			return "", fmt.Errorf("newline in string starting at offset %d", start)
		default:
			b.WriteByte(c)
			l.pos++
		}
	}
	return "", fmt.Errorf("unterminated string starting at offset %d", start)
}

// skipNumber skips a number or duration: 42, 0.5, 1e-3, 0x1f, 5m, 1h30m.
func (l *lexer) skipNumber() {
	start := l.pos
	hex := strings.HasPrefix(strings.ToLower(l.src[start:]), "0x")
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch {
		case isIdentChar(c) || c == '.':
			l.pos++
		case (c == '-' || c == '+') && !hex && l.pos > start && (l.src[l.pos-1] == 'e' || l.src[l.pos-1] == 'E'):
			l.pos++
		default:
			return
		}
	}
}

func (l *lexer) skipComment() {
	for l.pos < len(l.src) && l.src[l.pos] != '\n' {
		l.pos++
	}
}

func (l *lexer) peekNonSpace() byte {
	for i := l.pos; i < len(l.src); i++ {
		if !isSpace(l.src[i]) {
			return l.src[i]
		}
	}
	return 0
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isIdentStart(c byte) bool {
	return c == '_' || c == ':' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isIdentChar(c byte) bool { return isIdentStart(c) || isDigit(c) }
