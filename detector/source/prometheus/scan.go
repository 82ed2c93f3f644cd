package prometheus

import (
	"errors"
	"fmt"
	"io"
	"unicode/utf16"
	"unicode/utf8"
)

// scanner reads one JSON document from a stream through a fixed window, so a large response is
// never held in memory whole: only the bytes of the value being read are, and the window grows
// only for a single value larger than itself (a very long string, or a series' label object,
// which is kept whole for the label cache).
//
// It validates what it reads as encoding/json does: strings may not hold control characters,
// escapes must be known, invalid UTF-8 and lone surrogates become U+FFFD, numbers follow the
// JSON grammar, nesting is bounded.
type scanner struct {
	r    io.Reader
	buf  []byte
	pos  int   // next unread byte
	end  int   // buf[pos:end] is read from r and not consumed
	mark int   // -1, or the first byte fill must keep
	base int64 // stream offset of buf[0]
	rerr error // the error that ended r: io.EOF, or a read failure
}

const (
	scanWindow = 64 << 10
	// maxNesting bounds skipped values as encoding/json bounds its input.
	maxNesting = 10000
)

func newScanner(r io.Reader, buf []byte) *scanner {
	if cap(buf) < 512 {
		buf = make([]byte, scanWindow)
	}
	return &scanner{r: r, buf: buf[:cap(buf)], mark: -1}
}

// bytesScanner reads a document that is already in memory.
func bytesScanner(b []byte) *scanner {
	return &scanner{buf: b, end: len(b), mark: -1, rerr: io.EOF}
}

// syntaxError is malformed JSON, or JSON whose shape is not a Prometheus API response.
type syntaxError struct {
	msg    string
	offset int64
}

func (e *syntaxError) Error() string { return fmt.Sprintf("%s at byte %d", e.msg, e.offset) }

// readError is a failure to read the response body: the connection broke or the query's
// deadline passed while the answer was arriving.
type readError struct{ err error }

func (e *readError) Error() string { return "read response: " + e.err.Error() }
func (e *readError) Unwrap() error { return e.err }

func (s *scanner) offset() int64 { return s.base + int64(s.pos) }

func (s *scanner) errorf(format string, args ...any) error {
	return &syntaxError{msg: fmt.Sprintf(format, args...), offset: s.offset()}
}

// eofError reports the end of input in the middle of a value.
func (s *scanner) eofError() error {
	if s.rerr != nil && !errors.Is(s.rerr, io.EOF) {
		return &readError{s.rerr}
	}
	return s.errorf("unexpected end of JSON input")
}

// fill reads more input after end, keeping buf[min(pos, mark):end]. It reports whether at least
// one byte was added.
func (s *scanner) fill() bool {
	if s.rerr != nil {
		return false
	}
	keep := s.pos
	if s.mark >= 0 && s.mark < keep {
		keep = s.mark
	}
	if keep > 0 {
		n := copy(s.buf, s.buf[keep:s.end])
		s.base += int64(keep)
		s.pos -= keep
		s.end = n
		if s.mark >= 0 {
			s.mark -= keep
		}
	}
	if s.end == len(s.buf) {
		grown := make([]byte, 2*len(s.buf))
		copy(grown, s.buf[:s.end])
		s.buf = grown
	}
	for range 100 {
		n, err := s.r.Read(s.buf[s.end:])
		s.end += n
		if err != nil {
			s.rerr = err
			return n > 0
		}
		if n > 0 {
			return true
		}
	}
	s.rerr = io.ErrNoProgress
	return false
}

// ensure makes buf[pos:pos+n] readable when the input has that many bytes left.
func (s *scanner) ensure(n int) bool {
	for s.end-s.pos < n {
		if !s.fill() {
			return false
		}
	}
	return true
}

// peek skips white space and returns the next byte without consuming it.
func (s *scanner) peek() (byte, error) {
	for {
		buf, i, end := s.buf, s.pos, s.end
		for ; i < end; i++ {
			switch c := buf[i]; c {
			case ' ', '\t', '\n', '\r':
			default:
				s.pos = i
				return c, nil
			}
		}
		s.pos = i
		if !s.fill() {
			return 0, s.eofError()
		}
	}
}

// expect consumes c after optional white space.
func (s *scanner) expect(c byte) error {
	got, err := s.peek()
	if err != nil {
		return err
	}
	if got != c {
		return s.errorf("invalid character %q, want %q", got, c)
	}
	s.pos++
	return nil
}

// more is called before each member of an object or element of an array whose opening bracket
// was consumed: it consumes the separating comma, or the closing bracket and then reports false.
func (s *scanner) more(closing byte, first bool) (bool, error) {
	c, err := s.peek()
	if err != nil {
		return false, err
	}
	if c == closing {
		s.pos++
		return false, nil
	}
	if !first {
		if c != ',' {
			return false, s.errorf("invalid character %q after a value, want ',' or %q", c, closing)
		}
		s.pos++
	}
	return true, nil
}

// key reads an object member's name into dst and consumes the colon after it.
func (s *scanner) key(dst []byte) ([]byte, error) {
	if c, err := s.peek(); err != nil {
		return dst, err
	} else if c != '"' {
		return dst, s.errorf("invalid character %q, want an object key", c)
	}
	k, err := s.str(dst[:0])
	if err != nil {
		return k, err
	}
	return k, s.expect(':')
}

// isNull consumes a null literal if one is next.
func (s *scanner) isNull() (bool, error) {
	c, err := s.peek()
	if err != nil || c != 'n' {
		return false, err
	}
	return true, s.literal("null")
}

func (s *scanner) literal(lit string) error {
	s.ensure(len(lit))
	n := min(len(lit), s.end-s.pos)
	if string(s.buf[s.pos:s.pos+n]) != lit[:n] {
		return s.errorf("invalid literal, want %s", lit)
	}
	if n < len(lit) {
		return s.eofError()
	}
	s.pos += len(lit)
	return nil
}

// str reads a string and appends its unescaped content to dst.
func (s *scanner) str(dst []byte) ([]byte, error) {
	c, err := s.peek()
	if err != nil {
		return dst, err
	}
	if c != '"' {
		return dst, s.errorf("invalid character %q, want a string", c)
	}
	s.pos++
	for {
		buf, i, end := s.buf, s.pos, s.end
		for i < end {
			c := buf[i]
			if c == '"' || c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
				break
			}
			i++
		}
		dst = append(dst, buf[s.pos:i]...)
		s.pos = i
		if i == s.end {
			if !s.fill() {
				return dst, s.eofError()
			}
			continue
		}
		switch c := s.buf[i]; {
		case c == '"':
			s.pos++
			return dst, nil
		case c < 0x20:
			return dst, s.errorf("invalid control character %#x in string", c)
		case c == '\\':
			if dst, err = s.escape(dst); err != nil {
				return dst, err
			}
		default:
			if !s.ensure(utf8.UTFMax) && s.end == s.pos {
				return dst, s.eofError()
			}
			r, size := utf8.DecodeRune(s.buf[s.pos:s.end])
			if r == utf8.RuneError && size == 1 {
				dst = utf8.AppendRune(dst, utf8.RuneError)
			} else {
				dst = append(dst, s.buf[s.pos:s.pos+size]...)
			}
			s.pos += size
		}
	}
}

// escape reads the escape sequence at pos and appends what it stands for.
func (s *scanner) escape(dst []byte) ([]byte, error) {
	if !s.ensure(2) {
		return dst, s.eofError()
	}
	c := s.buf[s.pos+1]
	switch c {
	case '"', '\\', '/':
		dst = append(dst, c)
	case 'b':
		dst = append(dst, '\b')
	case 'f':
		dst = append(dst, '\f')
	case 'n':
		dst = append(dst, '\n')
	case 'r':
		dst = append(dst, '\r')
	case 't':
		dst = append(dst, '\t')
	case 'u':
		r, err := s.hex4(s.pos + 2)
		if err != nil {
			return dst, err
		}
		s.pos += 6
		if utf16.IsSurrogate(r) {
			// A pair is two escapes; anything else leaves the first half invalid.
			if s.ensure(6) && s.buf[s.pos] == '\\' && s.buf[s.pos+1] == 'u' {
				if r2, err := s.hex4(s.pos + 2); err == nil {
					if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
						s.pos += 6
						return utf8.AppendRune(dst, d), nil
					}
				}
			}
			r = utf8.RuneError
		}
		return utf8.AppendRune(dst, r), nil
	default:
		s.pos++
		return dst, s.errorf("invalid escape %q in string", c)
	}
	s.pos += 2
	return dst, nil
}

// hex4 decodes the four hex digits at buf[at:].
func (s *scanner) hex4(at int) (rune, error) {
	for s.end-at < 4 {
		old := s.pos
		if !s.fill() {
			return 0, s.eofError()
		}
		at -= old - s.pos
	}
	var r rune
	for _, c := range s.buf[at : at+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, s.errorf("invalid \\u escape in string")
		}
		r = r<<4 | rune(c)
	}
	return r, nil
}

// rawStr reads a string and returns its bytes between the quotes as they are in the input,
// escapes not decoded. The slice is valid until the next read.
func (s *scanner) rawStr() ([]byte, error) {
	c, err := s.peek()
	if err != nil {
		return nil, err
	}
	if c != '"' {
		return nil, s.errorf("invalid character %q, want a string", c)
	}
	start := s.offset()
	if err := s.skipString(); err != nil {
		return nil, err
	}
	return s.buf[start-s.base+1 : s.pos-1], nil
}

// skipString consumes a valid string, keeping its bytes in the window.
func (s *scanner) skipString() error {
	if s.mark < 0 {
		s.mark = s.pos
		defer func() { s.mark = -1 }()
	}
	s.pos++ // the opening quote
	for {
		buf, i, end := s.buf, s.pos, s.end
		for i < end {
			c := buf[i]
			if c == '"' {
				s.pos = i + 1
				return nil
			}
			if c == '\\' || c < 0x20 {
				break
			}
			i++
		}
		s.pos = i
		if i == end {
			if !s.fill() {
				return s.eofError()
			}
			continue
		}
		if buf[i] < 0x20 {
			return s.errorf("invalid control character %#x in string", buf[i])
		}
		if !s.ensure(2) {
			return s.eofError()
		}
		switch s.buf[s.pos+1] {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			s.pos += 2
		case 'u':
			if _, err := s.hex4(s.pos + 2); err != nil {
				return err
			}
			s.pos += 6
		default:
			return s.errorf("invalid escape %q in string", s.buf[s.pos+1])
		}
	}
}

// number reads a JSON number and returns its text, valid until the next read.
func (s *scanner) number() ([]byte, error) {
	c, err := s.peek()
	if err != nil {
		return nil, err
	}
	if c != '-' && (c < '0' || c > '9') {
		return nil, s.errorf("invalid character %q, want a number", c)
	}
	if s.mark < 0 {
		s.mark = s.pos
		defer func() { s.mark = -1 }()
	}
	start := s.pos - s.mark // the number's place after the window moves
	for {
		n, end := scanNumber(s.buf[s.pos:s.end])
		if end || !s.fill() {
			if s.rerr != nil && !errors.Is(s.rerr, io.EOF) && !end {
				return nil, &readError{s.rerr}
			}
			if n < 0 {
				s.pos += -1 - n
				if s.pos == s.end {
					return nil, s.eofError()
				}
				return nil, s.errorf("invalid character %q in number", s.buf[s.pos])
			}
			s.pos += n
			return s.buf[s.mark+start : s.pos], nil
		}
		s.pos = s.mark + start // the window moved, or grew: read the number again
	}
}

// scanNumber returns the length of the JSON number at the start of b and whether something
// follows it in b. A number that is not complete gives -1-(the offset of the fault).
func scanNumber(b []byte) (int, bool) {
	i := 0
	digits := func() int {
		n := 0
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case digits() == 0:
		return -1 - i, i < len(b)
	}
	if i < len(b) && b[i] == '.' {
		i++
		if digits() == 0 {
			return -1 - i, i < len(b)
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			return -1 - i, i < len(b)
		}
	}
	return i, i < len(b)
}

// skip consumes one value of any kind.
func (s *scanner) skip() error { return s.skipDepth(0) }

func (s *scanner) skipDepth(depth int) error {
	c, err := s.peek()
	if err != nil {
		return err
	}
	switch c {
	case '"':
		return s.skipString()
	case 't':
		return s.literal("true")
	case 'f':
		return s.literal("false")
	case 'n':
		return s.literal("null")
	case '{', '[':
		if depth >= maxNesting {
			return s.errorf("exceeded max depth")
		}
		s.pos++
		closing := byte('}')
		if c == '[' {
			closing = ']'
		}
		for first := true; ; first = false {
			ok, err := s.more(closing, first)
			if err != nil || !ok {
				return err
			}
			if closing == '}' {
				if c, _ := s.peek(); c != '"' {
					return s.errorf("invalid character %q, want an object key", c)
				}
				if err := s.skipString(); err != nil {
					return err
				}
				if err := s.expect(':'); err != nil {
					return err
				}
			}
			if err := s.skipDepth(depth + 1); err != nil {
				return err
			}
		}
	default:
		_, err := s.number()
		return err
	}
}

// raw consumes one value and returns its bytes, valid until the next read.
func (s *scanner) raw() ([]byte, error) {
	if _, err := s.peek(); err != nil {
		return nil, err
	}
	start := s.offset()
	if s.mark < 0 {
		s.mark = s.pos
		defer func() { s.mark = -1 }()
	}
	if err := s.skip(); err != nil {
		return nil, err
	}
	return s.buf[start-s.base : s.pos], nil
}

// atEnd checks that only white space follows the document.
func (s *scanner) atEnd() error {
	c, err := s.peek()
	if err == nil {
		return s.errorf("invalid character %q after the top-level value", c)
	}
	var se *syntaxError
	if errors.As(err, &se) {
		return nil // the end of input
	}
	return err
}
