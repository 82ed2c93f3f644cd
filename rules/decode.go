package rules

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/smartcloudops/smartcloudops/remediation"
)

var ruleFields = []string{
	"name", "description", "query", "check", "alert", "when", "for", "severity", "labels",
	"action", "approval", "cooldown", "max_runs", "dry_run", "enabled",
}

// rule decodes and compiles one rule; it returns nil when the rule has problems, which are
// recorded in d.errs.
func (d *decoder) rule(n *yaml.Node, field string, g *parsedGroup, opts LoadOptions) *Rule {
	before := len(d.errs)
	f := d.mapping(n, field, ruleFields...)
	if f == nil {
		return nil
	}
	rn := resolve(n)
	r := &Rule{
		Group: g.Name, File: d.file, Line: rn.Line, col: rn.Column, Interval: g.Interval,
		Severity: SeverityWarning, Enabled: true, Source: nodeSource(rn),
		Approval: Approval{Roles: []string{DefaultRole}, MinApprovers: DefaultMinApprovers, Expires: DefaultExpires},
	}
	if v, ok := f["name"]; !ok {
		d.errAt(rn, field, "name is required", "")
	} else if s, ok := d.str(v.val, field+".name"); ok {
		if !nameRE.MatchString(s) {
			d.errAt(v.val, field+".name", "want letters, digits, '.', '_' or '-' (at most 128)", s)
		}
		r.Name, r.Line, r.col = s, v.val.Line, v.val.Column
		g.names = append(g.names, ruleName{name: s, field: field, line: r.Line, col: r.col})
	}
	if v, ok := f["description"]; ok {
		r.Description, _ = d.str(v.val, field+".description")
	}
	d.input(f, rn, field, r, opts)
	if v, ok := f["for"]; ok {
		r.For, _ = d.duration(v.val, field+".for")
	}
	if v, ok := f["cooldown"]; ok {
		r.Cooldown, _ = d.duration(v.val, field+".cooldown")
	}
	if v, ok := f["severity"]; ok {
		if s, ok := d.str(v.val, field+".severity"); ok {
			switch s {
			case SeverityInfo, SeverityWarning, SeverityCritical:
				r.Severity = s
			default:
				d.errAt(v.val, field+".severity", "want info, warning or critical", s)
			}
		}
	}
	if v, ok := f["labels"]; ok {
		r.Labels = d.stringMap(v.val, field+".labels")
	}
	if v, ok := f["dry_run"]; ok {
		r.DryRun, _ = d.boolean(v.val, field+".dry_run")
	}
	if v, ok := f["enabled"]; ok {
		r.Enabled, _ = d.boolean(v.val, field+".enabled")
	}
	if v, ok := f["max_runs"]; ok {
		d.maxRuns(v.val, field+".max_runs", r)
	}
	if v, ok := f["approval"]; ok {
		d.approval(v.val, field+".approval", r)
	}
	if v, ok := f["action"]; !ok {
		d.errAt(rn, field, "action is required", r.Name)
	} else {
		d.action(v.val, field+".action", r, opts)
	}
	if v, ok := f["when"]; ok {
		d.when(v.val, field+".when", r)
	}
	if len(d.errs) > before {
		return nil
	}
	r.Version = ruleVersion(r)
	return r
}

func (d *decoder) input(f map[string]kv, rn *yaml.Node, field string, r *Rule, opts LoadOptions) {
	var given []string
	for _, k := range []string{"query", "check", "alert"} {
		if _, ok := f[k]; ok {
			given = append(given, k)
		}
	}
	if len(given) != 1 {
		msg := "want exactly one of query, check or alert"
		if len(given) > 1 {
			msg += " (got " + strings.Join(given, " and ") + ")"
		}
		d.errAt(rn, field, msg, r.Name)
		return
	}
	v := f[given[0]].val
	fld := field + "." + given[0]
	switch given[0] {
	case "query":
		r.Input = InputQuery
		if s, ok := d.str(v, fld); ok {
			if strings.TrimSpace(s) == "" {
				d.errAt(v, fld, "empty query", s)
			}
			r.Query = s
		}
	case "check":
		r.Input = InputCheck
		if s, ok := d.str(v, fld); ok {
			if strings.TrimSpace(s) == "" {
				d.errAt(v, fld, "empty check name", s)
			} else if opts.Checks != nil && !slices.Contains(opts.Checks, s) {
				d.errAt(v, fld, unknownCheck(s, opts.Checks), s)
			}
			r.Check = s
		}
	case "alert":
		r.Input = InputAlert
		an := resolve(v)
		switch an.Kind {
		case yaml.MappingNode:
			labels := d.stringMap(an, fld)
			for _, k := range sortedKeys(labels) {
				m, err := NewMatcher(k, MatchEqual, labels[k])
				if err != nil {
					d.errAt(an, fld, err.Error(), k)
					continue
				}
				r.Alert = append(r.Alert, m)
			}
		case yaml.SequenceNode:
			for i, c := range an.Content {
				s, ok := d.str(c, fmt.Sprintf("%s[%d]", fld, i))
				if !ok {
					continue
				}
				m, err := ParseMatcher(s)
				if err != nil {
					d.errAt(c, fmt.Sprintf("%s[%d]", fld, i), err.Error(), "")
					continue
				}
				r.Alert = append(r.Alert, m)
			}
		default:
			d.errAt(an, fld, `want label matchers: a mapping {alertname: X} or a list ['alertname="X"']`, an.Value)
			return
		}
		if len(r.Alert) == 0 && len(d.errs) == 0 {
			d.errAt(an, fld, "want at least one matcher", "")
		}
	}
}

func (d *decoder) maxRuns(n *yaml.Node, field string, r *Rule) {
	f := d.mapping(n, field, "count", "per")
	if f == nil {
		return
	}
	c, okC := f["count"]
	p, okP := f["per"]
	if !okC || !okP {
		d.errAt(resolve(n), field, "want both count and per", "")
		return
	}
	r.MaxRuns.Count, _ = d.integer(c.val, field+".count", 1)
	if per, ok := d.duration(p.val, field+".per"); ok {
		if per <= 0 {
			d.errAt(p.val, field+".per", "want a positive duration", p.val.Value)
		}
		r.MaxRuns.Per = per
	}
}

func (d *decoder) approval(n *yaml.Node, field string, r *Rule) {
	f := d.mapping(n, field, "roles", "min_approvers", "allow_requester", "expires")
	if f == nil {
		return
	}
	if v, ok := f["roles"]; ok {
		roles := d.stringList(v.val, field+".roles")
		if len(roles) == 0 {
			d.errAt(v.val, field+".roles", "want at least one role", "")
		} else {
			r.Approval.Roles = roles
		}
	}
	if v, ok := f["min_approvers"]; ok {
		r.Approval.MinApprovers, _ = d.integer(v.val, field+".min_approvers", 1)
	}
	if v, ok := f["allow_requester"]; ok {
		r.Approval.AllowRequester, _ = d.boolean(v.val, field+".allow_requester")
	}
	if v, ok := f["expires"]; ok {
		if e, ok := d.duration(v.val, field+".expires"); ok {
			if e <= 0 {
				d.errAt(v.val, field+".expires", "want a positive duration", v.val.Value)
			}
			r.Approval.Expires = e
		}
	}
}

func (d *decoder) action(n *yaml.Node, field string, r *Rule, opts LoadOptions) {
	f := d.mapping(n, field, "name", "params")
	if f == nil {
		return
	}
	v, ok := f["name"]
	if !ok {
		d.errAt(resolve(n), field, "name is required", "")
		return
	}
	name, ok := d.str(v.val, field+".name")
	if !ok {
		return
	}
	r.Action.Name = name
	sch, found := lookupSchema(opts, name)
	schemaOK := found || opts.Actions == nil
	if !schemaOK {
		d.errAt(v.val, field+".name", "unknown action", name)
	}
	r.Action.Params = map[string]any{}
	pn := &yaml.Node{Kind: yaml.MappingNode}
	if p, ok := f["params"]; ok {
		pn = resolve(p.val)
		if pn.Kind != yaml.MappingNode {
			d.errAt(pn, field+".params", "want a mapping of parameter names to values", pn.Value)
			return
		}
		if d.repeatedKeys(pn, field+".params") {
			return
		}
		if err := pn.Decode(&r.Action.Params); err != nil {
			d.decodeError(pn, field+".params", err)
			return
		}
	}
	if !schemaOK {
		return
	}
	pt, perrs := compileParams(r.Name, r.Action.Params, sch)
	for _, pe := range perrs {
		at := paramNode(pn, pe.path)
		if at == nil {
			at = pn
		}
		if pn.Line == 0 {
			at = resolve(n)
		}
		d.errAt(at, field+"."+pe.path, pe.msg, pe.text)
	}
	r.params = pt
}

func lookupSchema(opts LoadOptions, name string) (remediation.Schema, bool) {
	if opts.Actions == nil {
		return nil, false
	}
	return opts.Actions(name)
}

// paramNode finds the node of a parameter path such as "params.args[1]".
func paramNode(params *yaml.Node, path string) *yaml.Node {
	path = strings.TrimPrefix(path, "params")
	path = strings.TrimPrefix(path, ".")
	if path == "" {
		return params
	}
	name, rest, _ := strings.Cut(path, "[")
	var cur *yaml.Node
	for i := 0; i+1 < len(params.Content); i += 2 {
		if params.Content[i].Value == name {
			cur = resolve(params.Content[i+1])
		}
	}
	for cur != nil && rest != "" {
		var idx int
		if _, err := fmt.Sscanf(rest, "%d]", &idx); err != nil || cur.Kind != yaml.SequenceNode || idx >= len(cur.Content) {
			break
		}
		cur = resolve(cur.Content[idx])
		_, rest, _ = strings.Cut(rest, "[")
	}
	return cur
}

func (d *decoder) when(n *yaml.Node, field string, r *Rule) {
	s, ok := d.str(n, field)
	if !ok || r.Input == "" {
		return
	}
	n = resolve(n)
	r.When = s
	c, err := compileCondition(s, r.Input)
	if err != nil {
		var ce *condError
		off := 0
		msg := err.Error()
		if errors.As(err, &ce) {
			off, msg = ce.offset, ce.msg
		}
		line, col := d.position(n, off)
		d.errs = append(d.errs, &Error{File: d.file, Line: line, Col: col, Field: field, Msg: msg, Text: snippetAt(s, off)})
		return
	}
	r.cond = c
}

// snippetAt returns the condition text from off, or the whole text when off is 0.
func snippetAt(s string, off int) string {
	if off > 0 && off < len(s) {
		s = s[off:]
	}
	return strings.TrimSpace(s)
}

// decoder walks a parsed YAML document field by field, so that every problem carries the
// position of the text that caused it and unknown fields are refused.
type decoder struct {
	file  string
	lines []string
	errs  []error
}

func (d *decoder) errAt(n *yaml.Node, field, msg, text string) {
	e := &Error{File: d.file, Field: field, Msg: msg, Text: text}
	if n != nil {
		e.Line, e.Col = n.Line, n.Column
	}
	d.errs = append(d.errs, e)
}

type kv struct {
	key, val *yaml.Node
}

// mapping returns the fields of a mapping node, reporting unknown and repeated keys.
func (d *decoder) mapping(n *yaml.Node, field string, allowed ...string) map[string]kv {
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		d.errAt(n, field, "want a mapping", n.Value)
		return nil
	}
	out := map[string]kv{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		name := k.Value
		ok := false
		for _, a := range allowed {
			if a == name {
				ok = true
				break
			}
		}
		switch {
		case !ok:
			d.errAt(k, join(field, name), "unknown field (allowed: "+strings.Join(allowed, ", ")+")", name)
		case out[name].key != nil:
			d.errAt(k, join(field, name), "field given twice", name)
		default:
			out[name] = kv{k, v}
		}
	}
	return out
}

func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n != nil && n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		return resolve(n.Content[0])
	}
	return n
}

func join(field, name string) string {
	if field == "" {
		return name
	}
	return field + "." + name
}

func (d *decoder) str(n *yaml.Node, field string) (string, bool) {
	n = resolve(n)
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		d.errAt(n, field, "want a string", n.Value)
		return "", false
	}
	return n.Value, true
}

func (d *decoder) boolean(n *yaml.Node, field string) (bool, bool) {
	n = resolve(n)
	b, err := strconv.ParseBool(n.Value)
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" || err != nil {
		d.errAt(n, field, "want true or false", n.Value)
		return false, false
	}
	return b, true
}

func (d *decoder) integer(n *yaml.Node, field string, min int) (int, bool) {
	n = resolve(n)
	i, err := strconv.Atoi(n.Value)
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || err != nil {
		d.errAt(n, field, "want a whole number", n.Value)
		return 0, false
	}
	if i < min {
		d.errAt(n, field, fmt.Sprintf("want at least %d", min), n.Value)
		return 0, false
	}
	return i, true
}

func (d *decoder) duration(n *yaml.Node, field string) (time.Duration, bool) {
	s, ok := d.str(n, field)
	if !ok {
		return 0, false
	}
	v, err := ParseDuration(s)
	if err != nil {
		d.errAt(resolve(n), field, err.Error(), s)
		return 0, false
	}
	return v, true
}

func (d *decoder) stringMap(n *yaml.Node, field string) map[string]string {
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		d.errAt(n, field, "want a mapping of names to strings", n.Value)
		return nil
	}
	out := map[string]string{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolve(n.Content[i+1])
		f := join(field, k.Value)
		if !labelNameRE.MatchString(k.Value) {
			d.errAt(k, f, "invalid label name", k.Value)
			continue
		}
		if _, dup := out[k.Value]; dup {
			d.errAt(k, f, "label given twice", k.Value)
			continue
		}
		if v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
			d.errAt(v, f, "want a string value", v.Value)
			continue
		}
		out[k.Value] = v.Value
	}
	return out
}

func (d *decoder) stringList(n *yaml.Node, field string) []string {
	n = resolve(n)
	if n.Kind != yaml.SequenceNode {
		d.errAt(n, field, "want a list of strings", n.Value)
		return nil
	}
	var out []string
	for i, c := range n.Content {
		if s, ok := d.str(c, fmt.Sprintf("%s[%d]", field, i)); ok {
			out = append(out, s)
		}
	}
	return out
}

// position maps a byte offset inside a scalar's value to a line and column in the file,
// following the scalar's quoting style.
func (d *decoder) position(n *yaml.Node, off int) (int, int) {
	line, col := n.Line, n.Column
	if line <= 0 || line > len(d.lines) {
		return line, col
	}
	switch n.Style {
	case yaml.LiteralStyle, yaml.FoldedStyle:
		rows := strings.Split(n.Value, "\n")
		row := 0
		for row < len(rows)-1 && off > len(rows[row]) {
			off -= len(rows[row]) + 1
			row++
		}
		fl := line + 1 + row
		if fl > len(d.lines) {
			return line, col
		}
		first := d.lines[line] // the block's first content line sets its indentation
		indent := len(first) - len(strings.TrimLeft(first, " "))
		return fl, indent + off + 1
	case yaml.SingleQuotedStyle, yaml.DoubleQuotedStyle:
		raw := d.lines[line-1]
		r := col // byte index just after the opening quote (col is 1-based)
		for v := 0; v < off && r < len(raw); v++ {
			switch {
			case n.Style == yaml.SingleQuotedStyle && raw[r] == '\'' && r+1 < len(raw) && raw[r+1] == '\'':
				r += 2
			case n.Style == yaml.DoubleQuotedStyle && raw[r] == '\\':
				r += 2
			default:
				r++
			}
		}
		return line, r + 1
	default:
		return line, col + off
	}
}

// aliasProblem walks the document as decoding it would, following aliases, and returns the
// alias at which that stops being reasonable, with the problem: an anchor whose value
// contains an alias of itself, or excessive aliasing by the measure the YAML library
// applies when it decodes (a billion-laughs document, or groups and rules repeated by aliases
// until compiling them takes hours). The alias returned is the outermost one being expanded.
func aliasProblem(doc *yaml.Node) (*yaml.Node, string) {
	var (
		decoded, aliased, depth int
		outer, at               *yaml.Node
		msg                     string
		open                    = map[*yaml.Node]bool{} // nodes being walked
	)
	var walk func(n *yaml.Node) bool
	walk = func(n *yaml.Node) bool {
		decoded++
		if depth > 0 {
			aliased++
		}
		if aliased > 100 && decoded > 1000 && float64(aliased)/float64(decoded) > allowedAliasRatio(decoded) {
			at, msg = outer, "document contains excessive aliasing"
			return false
		}
		if n.Kind == yaml.AliasNode {
			if n.Alias == nil {
				return true
			}
			if open[n.Alias] {
				at, msg = n, fmt.Sprintf("anchor '%s' value contains itself", n.Value)
				return false
			}
			if depth == 0 {
				outer = n
			}
			depth++
			ok := walk(n.Alias)
			depth--
			return ok
		}
		open[n] = true
		for _, c := range n.Content {
			if !walk(c) {
				return false
			}
		}
		delete(open, n)
		return true
	}
	walk(doc)
	return at, msg
}

// allowedAliasRatio is the YAML library's limit on the share of decoded nodes that come
// from aliases: 99% up to 400,000 nodes, falling to 10% at 4,000,000.
func allowedAliasRatio(decoded int) float64 {
	const low, high = 400000, 4000000
	switch {
	case decoded <= low:
		return 0.99
	case decoded >= high:
		return 0.10
	default:
		return 0.99 - 0.89*(float64(decoded-low)/float64(high-low))
	}
}

// repeatedKeys reports keys given twice in a mapping anywhere in the parameters, which
// decoding them would refuse with the line only.
func (d *decoder) repeatedKeys(n *yaml.Node, field string) bool {
	seen := map[*yaml.Node]bool{}
	found := false
	var walk func(n *yaml.Node, field string)
	walk = func(n *yaml.Node, field string) {
		if n.Kind == yaml.AliasNode {
			if n.Alias == nil || seen[n.Alias] {
				return
			}
			seen[n.Alias] = true
			n = n.Alias
		}
		switch n.Kind {
		case yaml.MappingNode:
			type key struct {
				kind  yaml.Kind
				value string
			}
			first := map[key]*yaml.Node{}
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i]
				if p, dup := first[key{k.Kind, k.Value}]; dup {
					d.errAt(k, join(field, k.Value), fmt.Sprintf("key given twice (first at line %d)", p.Line), k.Value)
					found = true
				} else {
					first[key{k.Kind, k.Value}] = k
				}
				walk(n.Content[i+1], join(field, k.Value))
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				walk(c, fmt.Sprintf("%s[%d]", field, i))
			}
		}
	}
	walk(n, field)
	return found
}

var (
	typeErrLineRE = regexp.MustCompile(`^line (\d+): (.*)$`)
	badTagRE      = regexp.MustCompile("^cannot decode !!\\w+ `(.*)` as a (!!\\w+)$")
)

// decodeError reports an error of decoding the node n, at the node on the line the error
// names when it names one, else at n.
func (d *decoder) decodeError(n *yaml.Node, field string, err error) {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		_, msg := yamlMessage(err)
		at := n
		if m := badTagRE.FindStringSubmatch(msg); m != nil {
			// A scalar whose explicit tag does not fit its value, such as !!int x.
			if s := findNode(n, func(c *yaml.Node) bool {
				return c.Kind == yaml.ScalarNode && c.Value == m[1] && c.ShortTag() == m[2]
			}, map[*yaml.Node]bool{}); s != nil {
				at = s
			}
		}
		d.errAt(at, field, msg, "")
		return
	}
	for _, s := range te.Errors {
		m := typeErrLineRE.FindStringSubmatch(s)
		if m == nil {
			d.errAt(n, field, s, "")
			continue
		}
		line, _ := strconv.Atoi(m[1])
		at := findNode(n, func(c *yaml.Node) bool { return c.Line == line }, map[*yaml.Node]bool{})
		if at == nil {
			at = n
		}
		d.errAt(at, field, m[2], "")
	}
}

// findNode returns the first node below n, in document order and following aliases, for
// which match is true.
func findNode(n *yaml.Node, match func(*yaml.Node) bool, seen map[*yaml.Node]bool) *yaml.Node {
	if n == nil || seen[n] {
		return nil
	}
	seen[n] = true
	if match(n) {
		return n
	}
	for _, c := range n.Content {
		if at := findNode(c, match, seen); at != nil {
			return at
		}
	}
	return findNode(n.Alias, match, seen)
}
