package commands

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/smartcloudops/smartcloudops/internal/obs"
)

// maxLine caps a command line; longer input is refused before parsing.
const maxLine = 4096

// Split breaks a command line into words. Single or double quotes group words ("for 2h 'disk
// full on web-1'"); a backslash escapes the next character outside single quotes. Slack's
// formatting of mentions and links (<@U123>, <http://x|x>) is kept as typed.
func Split(line string) ([]string, error) {
	ws, err := splitWords(line)
	if err != nil {
		return nil, err
	}
	var words []string
	for _, w := range ws {
		words = append(words, w.text)
	}
	return words, nil
}

// word is one word of a command line: its text with quotes and escapes removed, and the text as
// typed (raw, curly quotes made straight), for commands whose arguments have a syntax of their
// own in which quotes matter, such as silence matchers.
type word struct {
	text, raw string
}

func splitWords(line string) ([]word, error) {
	if len(line) > maxLine {
		return nil, obs.UserErrorf("command too long (%d bytes, limit %d)", len(line), maxLine)
	}
	// Phones and chat clients like to turn quotes curly.
	line = strings.NewReplacer("“", `"`, "”", `"`, "‘", "'", "’", "'").Replace(line)
	if !utf8.ValidString(line) {
		return nil, obs.UserErrorf("the command is not valid UTF-8")
	}
	var words []word
	var cur strings.Builder
	inWord := false
	start := 0
	var quote rune
	escaped := false
	begin := func(i int) {
		if !inWord {
			inWord, start = true, i
		}
	}
	for i, r := range line {
		switch {
		case escaped:
			cur.WriteRune(r)
			escaped = false
		case r == '\\' && quote != '\'':
			begin(i)
			escaped = true
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '"' || r == '\'':
			begin(i)
			quote = r
		case unicode.IsSpace(r):
			if inWord {
				words = append(words, word{text: cur.String(), raw: line[start:i]})
				cur.Reset()
				inWord = false
			}
		default:
			begin(i)
			cur.WriteRune(r)
		}
	}
	if quote != 0 {
		return nil, obs.UserErrorf("unterminated quote in %q", line)
	}
	if escaped {
		return nil, obs.UserErrorf("the command ends with a backslash")
	}
	if inWord {
		words = append(words, word{text: cur.String(), raw: line[start:]})
	}
	return words, nil
}

// parseDuration reads "2h", "30m", "1d" (days are allowed here, unlike time.ParseDuration).
func parseDuration(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		var days int
		if _, err := fmt.Sscanf(n, "%d", &days); err == nil && days > 0 && fmt.Sprint(days) == n {
			return time.Duration(days) * 24 * time.Hour, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, obs.UserErrorf("%q is not a duration like 30m, 2h or 1d", s)
	}
	return d, nil
}

// keyValues parses k=v words into a map; values stay strings for the action schema to convert.
func keyValues(words []string) (map[string]any, error) {
	out := map[string]any{}
	for _, w := range words {
		k, v, ok := strings.Cut(w, "=")
		if !ok || k == "" {
			return nil, obs.UserErrorf("%q is not key=value", w)
		}
		if _, dup := out[k]; dup {
			return nil, obs.UserErrorf("parameter %q given twice", k)
		}
		out[k] = v
	}
	return out, nil
}
