package rules

import (
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
)

// The expr compiler words its errors in Go's terms ("type rules.anomalyEnv has no field uper",
// "mismatched types float64 and int"). conditionMessage rewords them in the terms of the rule
// language, naming the field as written and offering the closest name.

var (
	noFieldRE     = regexp.MustCompile(`^type (.+) has no (field|method) (\S+)$`)
	unknownNameRE = regexp.MustCompile(`^unknown name (\S+)$`)
	notBoolRE     = regexp.MustCompile(`^expected bool, but got (.+)$`)
)

// envRecords are the records of the environment, by Go type name, with the name a condition
// gives them.
var envRecords = map[string]struct {
	name string
	t    reflect.Type
}{
	typeName[anomalyEnv](): {"anomaly", reflect.TypeFor[anomalyEnv]()},
	typeName[alertEnv]():   {"alert", reflect.TypeFor[alertEnv]()},
}

func typeName[T any]() string { return reflect.TypeFor[T]().String() }

// typeWords says what a Go type of the environment is in the rule language, longest spelling
// first so that a function type is replaced before the types inside it.
var typeWords = []struct{ goType, words string }{
	{windowFuncType, "a window function"},
	{"map[string]string", "a map of strings"},
	{typeName[anomalyEnv](), "the anomaly record"},
	{typeName[alertEnv](), "the alert record"},
	{"time.Duration", "duration"},
	{"time.Time", "time"},
	{"float64", "number"},
	{"int", "number"},
	{"string", "string"},
}

// kindWords is the article and word for one Go type, as in "labels.x is a string".
func kindWords(goType string) string {
	for _, w := range typeWords {
		if w.goType == goType {
			if strings.HasPrefix(w.words, "a ") || strings.HasPrefix(w.words, "the ") {
				return w.words
			}
			return "a " + w.words
		}
	}
	return "a value of type " + goType
}

// conditionMessage rewords the compiler's message msg about src at byte offset off.
func conditionMessage(src string, off int, msg string, kind InputKind) string {
	if m := noFieldRE.FindStringSubmatch(msg); m != nil {
		goType, what, member := m[1], m[2], m[3]
		recv := receiverAt(src, off)
		if rec, ok := envRecords[goType]; ok && what == "field" {
			fields := exprFields(rec.t)
			path := rec.name + "." + member
			if best := closest(member, fields); best != "" {
				return fmt.Sprintf("unknown field `%s`, did you mean `%s`?", path, best)
			}
			return fmt.Sprintf("unknown field `%s`; %s has %s", path, rec.name, strings.Join(fields, ", "))
		}
		if recv == "" {
			return fmt.Sprintf("%s has no %s `%s`", kindWords(goType), what, member)
		}
		return fmt.Sprintf("`%s` is %s and has no %s `%s`", recv, kindWords(goType), what, member)
	}
	if m := unknownNameRE.FindStringSubmatch(msg); m != nil {
		names := envNames(kind)
		if best := closest(m[1], names); best != "" {
			return fmt.Sprintf("unknown name `%s`, did you mean `%s`?", m[1], best)
		}
		article := "a"
		if kind == InputAlert {
			article = "an"
		}
		return fmt.Sprintf("unknown name `%s`; %s %s rule can use %s", m[1], article, kind, strings.Join(names, ", "))
	}
	if m := notBoolRE.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("a condition must be true or false (a comparison such as value > 90), not %s", kindWords(m[1]))
	}
	hint := ""
	if strings.Contains(msg, windowFuncType) {
		hint = "; a window function is called with a window, as in avg_over(5m)"
	}
	for _, w := range typeWords {
		words := strings.TrimPrefix(strings.TrimPrefix(w.words, "a "), "the ")
		msg = replaceWord(msg, w.goType, words)
	}
	return strings.TrimSpace(msg) + hint
}

const windowFuncType = "func(time.Duration) float64"

// replaceWord replaces old in s where it stands as a word of its own.
func replaceWord(s, old, new string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, old)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		end := i + len(old)
		if (i > 0 && isWordByte(s[i-1])) || (end < len(s) && isWordByte(s[end])) {
			b.WriteString(s[:end])
		} else {
			b.WriteString(s[:i] + new)
		}
		s = s[end:]
	}
}

func isWordByte(c byte) bool {
	return isIdentByte(c) || isDigit(c) || c == '.' || c == '[' || c == ']'
}

// receiverAt returns the field path written before the member at off, such as "labels.x" for
// off at y in "labels.x.y", or "" when what precedes it is not a plain path.
func receiverAt(src string, off int) string {
	if off <= 0 || off > len(src) || src[off-1] != '.' {
		return ""
	}
	i := off - 1
	for i > 0 && (isIdentByte(src[i-1]) || isDigit(src[i-1]) || src[i-1] == '.') {
		i--
	}
	recv := src[i : off-1]
	if recv == "" || !isIdentByte(recv[0]) || (i > 0 && (src[i-1] == ')' || src[i-1] == ']')) {
		return ""
	}
	return recv
}

// exprFields lists the names a condition uses for the fields of t.
func exprFields(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		if name := t.Field(i).Tag.Get("expr"); name != "" {
			out = append(out, name)
		}
	}
	return out
}

// envNames lists the top-level names a rule of kind may use.
func envNames(kind InputKind) []string {
	var out []string
	for _, n := range exprFields(reflect.TypeFor[evalEnv]()) {
		switch {
		case n == "anomaly" && kind != InputCheck, n == "alert" && kind != InputAlert:
		case windowFuncs[n] && kind == InputAlert:
		default:
			out = append(out, n)
		}
	}
	return out
}

// closest returns the candidate nearest to name when it is near enough to be a typo: the same
// letters in another case, or at most two edits for a name of five or more letters, one for a
// shorter one.
func closest(name string, candidates []string) string {
	best, bestD := "", 3
	if len(name) < 5 {
		bestD = 2
	}
	for _, c := range slices.Sorted(slices.Values(candidates)) {
		d := editDistance(strings.ToLower(name), strings.ToLower(c))
		if strings.EqualFold(name, c) {
			d = 0
		}
		if d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
