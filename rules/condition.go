package rules

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
)

// Limits on conditions. A condition over MaxConditionBytes or MaxConditionNodes is refused at
// load; one that allocates more than conditionMemoryBudget units fails at evaluation. The budget
// counts lists and maps but not strings, and nothing bounds a loop's time, so the constructs
// that loop or multiply a string (let, predicates, repeat, replace) are refused at load: what
// remains evaluates in time and memory proportional to the condition's size and its labels.
const (
	MaxConditionBytes     = 4096
	MaxConditionNodes     = 512
	conditionMemoryBudget = 100_000
	// maxWindow caps the history a rule keeps for window functions.
	maxWindow = 24 * time.Hour
	// maxWindowPoints caps the points kept per series for window functions.
	maxWindowPoints = 4096
)

// evalEnv is the typed environment conditions compile against and run in.
type evalEnv struct {
	Value   float64           `expr:"value"`
	Labels  map[string]string `expr:"labels"`
	Anomaly anomalyEnv        `expr:"anomaly"`
	Alert   alertEnv          `expr:"alert"`
	Now     time.Time         `expr:"now"`

	AvgOver func(time.Duration) float64 `expr:"avg_over"`
	MaxOver func(time.Duration) float64 `expr:"max_over"`
	MinOver func(time.Duration) float64 `expr:"min_over"`
	Rate    func(time.Duration) float64 `expr:"rate"`
	Delta   func(time.Duration) float64 `expr:"delta"`
}

type anomalyEnv struct {
	Score    float64   `expr:"score"`
	Peak     float64   `expr:"peak"`
	Open     bool      `expr:"open"`
	Expected float64   `expr:"expected"`
	Lower    float64   `expr:"lower"`
	Upper    float64   `expr:"upper"`
	Since    time.Time `expr:"since"`
}

type alertEnv struct {
	Labels      map[string]string `expr:"labels"`
	Annotations map[string]string `expr:"annotations"`
	Status      string            `expr:"status"`
	StartsAt    time.Time         `expr:"startsAt"`
}

var windowFuncs = map[string]bool{"avg_over": true, "max_over": true, "min_over": true, "rate": true, "delta": true}

// condition is a compiled `when`.
type condition struct {
	src     string
	program *vm.Program
	window  time.Duration // longest history a window function asks for; 0 when none is used
}

// condError is a compile problem at a byte offset of the original condition text.
type condError struct {
	offset int
	msg    string
}

func (e *condError) Error() string { return e.msg }

// compileCondition compiles src for the given input kind. Errors are *condError.
func compileCondition(src string, kind InputKind) (*condition, error) {
	if len(src) > MaxConditionBytes {
		return nil, &condError{offset: 0, msg: fmt.Sprintf("condition is %d bytes, the limit is %d", len(src), MaxConditionBytes)}
	}
	rewritten, shifts, err := rewriteDurations(src)
	if err != nil {
		return nil, err
	}
	uses := &usage{kind: kind}
	program, err := expr.Compile(rewritten,
		expr.Env(evalEnv{}),
		expr.AsBool(),
		expr.MaxNodes(MaxConditionNodes),
		expr.Patch(uses),
	)
	if err != nil {
		var fe *file.Error
		if errors.As(err, &fe) {
			off := origOffset(rewritten, fe.From, shifts)
			return nil, &condError{offset: off, msg: conditionMessage(src, off, fe.Message, kind)}
		}
		return nil, &condError{msg: conditionMessage(src, 0, err.Error(), kind)}
	}
	if uses.err != nil {
		uses.err.offset = origOffset(rewritten, uses.err.offset, shifts)
		return nil, uses.err
	}
	c := &condition{src: src, program: program}
	if uses.windows {
		c.window = uses.maxWindow
		if uses.dynamicWindow || c.window > maxWindow {
			c.window = maxWindow
		}
	}
	return c, nil
}

// stringGrowers are the builtins that can multiply a string's length with each call, so a few
// nested calls would exhaust memory; the memory budget does not count strings.
var stringGrowers = map[string]bool{"repeat": true, "replace": true}

// usage walks the AST to refuse names that mean nothing for the rule's input and to find the
// longest window a window function asks for.
type usage struct {
	kind          InputKind
	windows       bool
	dynamicWindow bool
	maxWindow     time.Duration
	err           *condError
}

func (u *usage) Visit(node *ast.Node) {
	if u.err != nil {
		return
	}
	switch n := (*node).(type) {
	case *ast.VariableDeclaratorNode:
		u.err = &condError{offset: n.Location().From, msg: "let is not allowed in a condition: a variable can double a string at every step"}
	case *ast.PredicateNode:
		u.err = &condError{offset: n.Location().From, msg: "loops (all, any, filter, map, count, reduce, ...) are not allowed in a condition: there is no list to loop over, and nested loops have no bound"}
	case *ast.BuiltinNode:
		if stringGrowers[n.Name] {
			u.err = &condError{offset: n.Location().From, msg: n.Name + " is not allowed in a condition: it can grow a string without bound"}
		}
	case *ast.IdentifierNode:
		switch {
		case n.Value == "anomaly" && u.kind != InputCheck:
			u.err = &condError{offset: n.Location().From, msg: "anomaly is only defined for check rules"}
		case n.Value == "alert" && u.kind != InputAlert:
			u.err = &condError{offset: n.Location().From, msg: "alert is only defined for alert rules"}
		case windowFuncs[n.Value] && u.kind == InputAlert:
			u.err = &condError{offset: n.Location().From, msg: n.Value + " needs a series and is not defined for alert rules"}
		}
	case *ast.CallNode:
		id, ok := n.Callee.(*ast.IdentifierNode)
		if !ok || !windowFuncs[id.Value] {
			return
		}
		u.windows = true
		d, ok := constDuration(n.Arguments)
		if !ok {
			u.dynamicWindow = true
			return
		}
		if d <= 0 {
			u.err = &condError{offset: n.Location().From, msg: id.Value + " needs a positive window"}
			return
		}
		if d > u.maxWindow {
			u.maxWindow = d
		}
	}
}

func constDuration(args []ast.Node) (time.Duration, bool) {
	if len(args) != 1 {
		return 0, false
	}
	call, ok := args[0].(*ast.BuiltinNode)
	if !ok || call.Name != "duration" || len(call.Arguments) != 1 {
		return 0, false
	}
	s, ok := call.Arguments[0].(*ast.StringNode)
	if !ok {
		return 0, false
	}
	d, err := time.ParseDuration(s.Value)
	return d, err == nil
}

// shift records that the rewrite replaced the token of origLen bytes at orig with n bytes at at.
type shift struct {
	at, n         int
	orig, origLen int
}

// rewriteDurations turns unquoted duration literals such as 5m or 1h30m into duration("5m0s")
// calls, leaving string literals alone, and records where it did so, so that error offsets
// map back to the text the user wrote.
func rewriteDurations(src string) (string, []shift, error) {
	var b strings.Builder
	var shifts []shift
	i := 0
	for i < len(src) {
		c := src[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			j := i + 1
			for j < len(src) && src[j] != c {
				if src[j] == '\\' && c != '`' {
					j++
				}
				j++
			}
			if j < len(src) {
				j++
			}
			b.WriteString(src[i:min(j, len(src))])
			i = j
		case isIdentByte(c):
			j := i
			for j < len(src) && (isIdentByte(src[j]) || isDigit(src[j])) {
				j++
			}
			b.WriteString(src[i:j])
			i = j
		case isDigit(c) && (i == 0 || src[i-1] != '.'):
			j, isDur := scanDuration(src, i)
			if !isDur {
				b.WriteString(src[i:j])
				i = j
				continue
			}
			d, err := ParseDuration(src[i:j])
			if err != nil {
				return "", nil, &condError{offset: i, msg: err.Error()}
			}
			tok := fmt.Sprintf("duration(%q)", d.String())
			shifts = append(shifts, shift{at: b.Len(), n: len(tok), orig: i, origLen: j - i})
			b.WriteString(tok)
			i = j
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String(), shifts, nil
}

// scanDuration scans a number at i and reports whether it is a duration literal (number and
// unit pairs, like 90s or 1h30m) and where it ends.
func scanDuration(src string, i int) (int, bool) {
	j := i
	isDur := false
	for {
		k := j
		for k < len(src) && (isDigit(src[k]) || src[k] == '.') {
			k++
		}
		if k == j {
			break
		}
		u := k
		for u < len(src) && src[u] >= 'a' && src[u] <= 'z' {
			u++
		}
		switch src[k:u] {
		case "ms", "s", "m", "h", "d", "w":
			if u < len(src) && (isIdentByte(src[u]) && !isDigit(src[u])) {
				return u, false
			}
			isDur = true
			j = u
			continue
		}
		if !isDur {
			// A plain number (possibly with an exponent or hex prefix): copy it through.
			for k < len(src) && (isIdentByte(src[k]) || isDigit(src[k]) || src[k] == '.') {
				k++
			}
			return k, false
		}
		break
	}
	return j, isDur
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isIdentByte(c byte) bool {
	return c == '_' || c == '$' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// origOffset maps a rune offset in the rewritten text back to a byte offset in the original.
func origOffset(rewritten string, runeOff int, shifts []shift) int {
	byteOff := len(rewritten)
	n := 0
	for i := range rewritten {
		if n == runeOff {
			byteOff = i
			break
		}
		n++
	}
	delta := 0
	for _, s := range shifts {
		if byteOff < s.at {
			break
		}
		if byteOff < s.at+s.n {
			return s.orig
		}
		delta += s.n - s.origLen
	}
	return max(byteOff-delta, 0)
}

// window is the recent history of one series, oldest first.
type window struct {
	t []int64 // unix nanoseconds
	v []float64
}

func (w *window) add(t time.Time, v float64, keep time.Duration) {
	ns := t.UnixNano()
	if n := len(w.t); n > 0 && w.t[n-1] >= ns {
		if w.t[n-1] == ns {
			w.v[n-1] = v
		}
		return
	}
	w.t = append(w.t, ns)
	w.v = append(w.v, v)
	cut := 0
	for cut < len(w.t) && (w.t[cut] <= ns-int64(keep) || len(w.t)-cut > maxWindowPoints) {
		cut++
	}
	if cut > 0 {
		w.t = append(w.t[:0], w.t[cut:]...)
		w.v = append(w.v[:0], w.v[cut:]...)
	}
}

// span returns the indexes of the points within (now-d, now].
func (w *window) span(now time.Time, d time.Duration) (int, int) {
	ns := now.UnixNano()
	lo := len(w.t)
	for lo > 0 && w.t[lo-1] > ns-int64(d) {
		lo--
	}
	hi := len(w.t)
	for hi > lo && w.t[hi-1] > ns {
		hi--
	}
	return lo, hi
}

// windowFns binds the window functions to the series being evaluated.
type windowFns struct {
	w   *window
	now time.Time
}

func (f *windowFns) avg(d time.Duration) float64 {
	lo, hi := f.w.span(f.now, d)
	if hi == lo {
		return math.NaN()
	}
	s := 0.0
	for _, v := range f.w.v[lo:hi] {
		s += v
	}
	return s / float64(hi-lo)
}

func (f *windowFns) maxOver(d time.Duration) float64 {
	lo, hi := f.w.span(f.now, d)
	if hi == lo {
		return math.NaN()
	}
	m := math.Inf(-1)
	for _, v := range f.w.v[lo:hi] {
		m = math.Max(m, v)
	}
	return m
}

func (f *windowFns) minOver(d time.Duration) float64 {
	lo, hi := f.w.span(f.now, d)
	if hi == lo {
		return math.NaN()
	}
	m := math.Inf(1)
	for _, v := range f.w.v[lo:hi] {
		m = math.Min(m, v)
	}
	return m
}

func (f *windowFns) delta(d time.Duration) float64 {
	lo, hi := f.w.span(f.now, d)
	if hi-lo < 2 {
		return 0
	}
	return f.w.v[hi-1] - f.w.v[lo]
}

func (f *windowFns) rate(d time.Duration) float64 {
	lo, hi := f.w.span(f.now, d)
	if hi-lo < 2 {
		return 0
	}
	secs := float64(f.w.t[hi-1]-f.w.t[lo]) / float64(time.Second)
	return (f.w.v[hi-1] - f.w.v[lo]) / secs
}

// evaluator runs one rule's condition; it is not safe for concurrent use.
type evaluator struct {
	vm  vm.VM
	env evalEnv
	fns windowFns
}

func newEvaluator() *evaluator {
	e := &evaluator{}
	e.vm.MemoryBudget = conditionMemoryBudget
	e.env.AvgOver = e.fns.avg
	e.env.MaxOver = e.fns.maxOver
	e.env.MinOver = e.fns.minOver
	e.env.Rate = e.fns.rate
	e.env.Delta = e.fns.delta
	return e
}

var emptyWindow = &window{}

// run evaluates c against the environment already filled in e.env.
func (e *evaluator) run(c *condition, w *window) (bool, error) {
	if c == nil {
		return true, nil
	}
	if w == nil {
		w = emptyWindow
	}
	e.fns.w = w
	e.fns.now = e.env.Now
	out, err := e.vm.Run(c.program, &e.env)
	if err != nil {
		return false, err
	}
	b, ok := out.(bool)
	if !ok {
		return false, fmt.Errorf("condition returned %T, not bool", out)
	}
	return b, nil
}
