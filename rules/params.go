package rules

import (
	"fmt"
	"maps"
	"regexp"
	"strings"
	"text/template"
	"text/template/parse"

	"github.com/smartcloudops/smartcloudops/remediation"
)

var paramNameRE = regexp.MustCompile(`^param "([^"]+)"`)

// maxRenderedParam caps the size of one rendered parameter value.
const maxRenderedParam = 64 << 10

// paramTemplate holds a rule's action parameters with their templates parsed.
type paramTemplate struct {
	root   map[string]tmplValue
	schema remediation.Schema // nil when the action registry was not given
}

// tmplValue is one parameter value: a literal, a template, or a list of values.
type tmplValue struct {
	lit  any
	tmpl *template.Template
	list []tmplValue
}

// paramError is a problem with one parameter, named by its path such as "params.args[0]".
type paramError struct {
	path string
	msg  string
	text string
}

func (e *paramError) Error() string { return e.path + ": " + e.msg }

// templateData is the data a parameter template sees.
func templateData(rule string, labels map[string]string, value float64) map[string]any {
	return map[string]any{"labels": labels, "value": value, "rule": rule}
}

// compileParams parses every template in raw and checks the parameters against schema
// (when not nil) with templates standing in as placeholders, then renders each template once
// with a dummy label set to catch errors that only show when it runs.
func compileParams(rule string, raw map[string]any, schema remediation.Schema) (*paramTemplate, []*paramError) {
	pt := &paramTemplate{root: map[string]tmplValue{}, schema: schema}
	var errs []*paramError
	for _, k := range sortedKeys(raw) {
		v, perrs := compileValue(rule, "params."+k, raw[k], 0)
		errs = append(errs, perrs...)
		pt.root[k] = v
	}
	if len(errs) > 0 {
		return nil, errs
	}
	if schema != nil {
		if _, err := schema.Normalize(raw); err != nil {
			for _, e := range splitJoined(err) {
				path := "params"
				if m := paramNameRE.FindStringSubmatch(e.Error()); m != nil {
					path += "." + m[1]
				}
				errs = append(errs, &paramError{path: path, msg: e.Error()})
			}
			return nil, errs
		}
	}
	return pt, nil
}

func compileValue(rule, path string, v any, depth int) (tmplValue, []*paramError) {
	if depth > 4 {
		return tmplValue{}, []*paramError{{path: path, msg: "nested too deeply"}}
	}
	switch x := v.(type) {
	case string:
		if !strings.Contains(x, "{{") {
			return tmplValue{lit: x}, nil
		}
		t, err := template.New(path).Option("missingkey=error").Parse(x)
		if err != nil {
			return tmplValue{}, []*paramError{{path: path, msg: "template: " + trimTemplateErr(err), text: x}}
		}
		if err := checkTemplate(rule, t, x); err != nil {
			return tmplValue{}, []*paramError{{path: path, msg: "template: " + err.Error(), text: x}}
		}
		return tmplValue{tmpl: t}, nil
	case []any:
		out := tmplValue{list: make([]tmplValue, 0, len(x))}
		var errs []*paramError
		for i, e := range x {
			ev, perrs := compileValue(rule, fmt.Sprintf("%s[%d]", path, i), e, depth+1)
			errs = append(errs, perrs...)
			out.list = append(out.list, ev)
		}
		return out, errs
	case map[string]any:
		return tmplValue{}, []*paramError{{path: path, msg: "a parameter cannot be a mapping"}}
	default:
		return tmplValue{lit: x}, nil
	}
}

// checkTemplate refuses top-level names other than labels, value and rule, and test-renders t
// with a dummy label set holding every label the template names.
func checkTemplate(rule string, t *template.Template, text string) error {
	labels := map[string]string{"instance": "dummy:9100", "job": "dummy"}
	var bad error
	walkFields(t.Tree.Root, func(chain []string) {
		if bad != nil || len(chain) == 0 {
			return
		}
		switch chain[0] {
		case "labels":
			if len(chain) > 1 {
				labels[chain[1]] = "dummy"
			}
		case "value", "rule":
		default:
			bad = fmt.Errorf("unknown field .%s (use .labels.NAME, .value or .rule)", chain[0])
		}
	})
	if bad != nil {
		return bad
	}
	var sb strings.Builder
	if err := t.Execute(&sb, templateData(rule, labels, 1)); err != nil {
		return fmt.Errorf("%s", trimTemplateErr(err))
	}
	return nil
}

func walkFields(n parse.Node, fn func([]string)) {
	switch x := n.(type) {
	case *parse.ListNode:
		if x == nil {
			return
		}
		for _, c := range x.Nodes {
			walkFields(c, fn)
		}
	case *parse.ActionNode:
		walkFields(x.Pipe, fn)
	case *parse.PipeNode:
		if x == nil {
			return
		}
		for _, c := range x.Cmds {
			walkFields(c, fn)
		}
	case *parse.CommandNode:
		for _, a := range x.Args {
			walkFields(a, fn)
		}
	case *parse.FieldNode:
		fn(x.Ident)
	case *parse.IfNode:
		walkFields(x.Pipe, fn)
		walkFields(x.List, fn)
		walkFields(x.ElseList, fn)
	case *parse.RangeNode:
		walkFields(x.Pipe, fn)
		walkFields(x.List, fn)
		walkFields(x.ElseList, fn)
	case *parse.WithNode:
		walkFields(x.Pipe, fn)
		walkFields(x.List, fn)
		walkFields(x.ElseList, fn)
	}
}

func trimTemplateErr(err error) string {
	s := err.Error()
	if i := strings.Index(s, "template: "); i == 0 {
		s = s[len("template: "):]
	}
	return s
}

// render renders every template with the firing's data and normalizes the result against
// the schema.
func (pt *paramTemplate) render(rule string, labels map[string]string, value float64) (remediation.Params, error) {
	if pt == nil {
		return remediation.Params{}, nil
	}
	data := templateData(rule, labels, value)
	raw := make(map[string]any, len(pt.root))
	for k, v := range pt.root {
		out, err := v.render(data)
		if err != nil {
			return nil, fmt.Errorf("param %q: %w", k, err)
		}
		if s, ok := out.(string); ok && v.tmpl != nil && pt.isList(k) {
			// A list written as one template is one element: a comma in a label value must not
			// turn into extra arguments. A list of several elements is written as a YAML list.
			out = []any{s}
		}
		raw[k] = out
	}
	if pt.schema == nil {
		return remediation.Params(raw), nil
	}
	p, err := pt.schema.Normalize(raw)
	if err != nil {
		return nil, fmt.Errorf("rendered params: %w", err)
	}
	return p, nil
}

// isList reports whether the schema declares parameter name a list.
func (pt *paramTemplate) isList(name string) bool {
	for _, p := range pt.schema {
		if p.Name == name {
			return p.Type == remediation.TypeList
		}
	}
	return false
}

func (v tmplValue) render(data map[string]any) (any, error) {
	switch {
	case v.tmpl != nil:
		var sb strings.Builder
		if err := v.tmpl.Execute(&limitedWriter{b: &sb, n: maxRenderedParam}, data); err != nil {
			return nil, fmt.Errorf("%s", trimTemplateErr(err))
		}
		return sb.String(), nil
	case v.list != nil:
		out := make([]any, len(v.list))
		for i, e := range v.list {
			r, err := e.render(data)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	default:
		return v.lit, nil
	}
}

type limitedWriter struct {
	b *strings.Builder
	n int
}

func (w *limitedWriter) Write(p []byte) (int, error) {
	if w.b.Len()+len(p) > w.n {
		return 0, fmt.Errorf("rendered value longer than %d bytes", w.n)
	}
	return w.b.Write(p)
}

// mergeLabels returns the series labels with the rule's labels applied on top.
func mergeLabels(series, rule map[string]string) map[string]string {
	out := make(map[string]string, len(series)+len(rule))
	maps.Copy(out, series)
	maps.Copy(out, rule)
	return out
}

func splitJoined(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
