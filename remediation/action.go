package remediation

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ParamType is the type of one action parameter.
type ParamType string

// Parameter types. Values arrive from YAML (numbers, strings) or from templates and chat
// (strings); Schema.Normalize turns both into the Go type listed here.
const (
	TypeString   ParamType = "string"   // string
	TypeInt      ParamType = "int"      // int64
	TypeNumber   ParamType = "number"   // float64
	TypeBool     ParamType = "bool"     // bool
	TypeDuration ParamType = "duration" // time.Duration
	TypeList     ParamType = "list"     // []string
)

// Param declares one parameter an action takes.
type Param struct {
	Name        string
	Type        ParamType
	Required    bool
	Default     any // used when the parameter is absent; nil for none
	Description string
	// RunTime marks a duration parameter that bounds how long the action runs (an SSM command's
	// timeout). Under a schema from WithTimeout, Normalize refuses a value longer than the
	// executor's timeout, which would stop the action before it could report.
	RunTime bool

	limit time.Duration // set by WithTimeout
}

// Schema is the list of parameters an action takes. Rules are checked against it when they load,
// manual runs when they are proposed.
type Schema []Param

// WithTimeout returns a copy of s whose RunTime parameters may not exceed limit, the executor's
// timeout (executor.timeout). A RunTime default above limit becomes limit.
func (s Schema) WithTimeout(limit time.Duration) Schema {
	out := make(Schema, len(s))
	copy(out, s)
	for i := range out {
		if out[i].RunTime && out[i].Type == TypeDuration {
			out[i].limit = limit
		}
	}
	return out
}

// LimitRunTime wraps an action schema lookup (as rule loading takes it) so that every schema
// it returns is limited by WithTimeout(limit).
func LimitRunTime(lookup func(name string) (Schema, bool), limit time.Duration) func(name string) (Schema, bool) {
	return func(name string) (Schema, bool) {
		s, ok := lookup(name)
		if !ok || limit <= 0 {
			return s, ok
		}
		return s.WithTimeout(limit), true
	}
}

// Params are an action's parameters after Schema.Normalize: every value has its declared Go type.
type Params map[string]any

// Normalize checks raw parameters against the schema and converts them to their declared types.
// Values that still hold a template (they contain "{{") are checked for presence only, since they
// get their value when a rule fires. It reports every problem at once, each naming its parameter.
func (s Schema) Normalize(raw map[string]any) (Params, error) {
	out := Params{}
	var errs []error
	known := map[string]bool{}
	for _, p := range s {
		known[p.Name] = true
		v, ok := raw[p.Name]
		if !ok || v == nil {
			if p.Required {
				errs = append(errs, fmt.Errorf("param %q: required", p.Name))
			} else if p.Default != nil {
				out[p.Name] = p.Default
				if d, ok := p.Default.(time.Duration); ok && p.limit > 0 && d > p.limit {
					out[p.Name] = p.limit
				}
			}
			continue
		}
		if str, isStr := v.(string); isStr && strings.Contains(str, "{{") {
			out[p.Name] = str
			continue
		}
		cv, err := convert(p.Type, v)
		if err != nil {
			errs = append(errs, fmt.Errorf("param %q: %w", p.Name, err))
			continue
		}
		if d, ok := cv.(time.Duration); ok && p.limit > 0 && d > p.limit {
			errs = append(errs, fmt.Errorf("param %q: %s is longer than executor.timeout (%s), which would stop the action before it reports; shorten it or raise executor.timeout", p.Name, d, p.limit))
			continue
		}
		out[p.Name] = cv
	}
	var unknown []string
	for k := range raw {
		if !known[k] {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		errs = append(errs, fmt.Errorf("param %q: unknown (allowed: %s)", k, strings.Join(s.names(), ", ")))
	}
	return out, errors.Join(errs...)
}

func (s Schema) names() []string {
	n := make([]string, len(s))
	for i, p := range s {
		n[i] = p.Name
	}
	return n
}

func convert(t ParamType, v any) (any, error) {
	switch t {
	case TypeString:
		switch x := v.(type) {
		case string:
			return x, nil
		case int, int64, float64, bool:
			return fmt.Sprint(x), nil
		}
	case TypeInt:
		switch x := v.(type) {
		case int:
			return int64(x), nil
		case int64:
			return x, nil
		case float64:
			if x != float64(int64(x)) {
				return nil, fmt.Errorf("%v is not a whole number", x)
			}
			return int64(x), nil
		case string:
			n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%q is not a whole number", x)
			}
			return n, nil
		}
	case TypeNumber:
		switch x := v.(type) {
		case int:
			return float64(x), nil
		case int64:
			return float64(x), nil
		case float64:
			return x, nil
		case string:
			n, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
			if err != nil {
				return nil, fmt.Errorf("%q is not a number", x)
			}
			return n, nil
		}
	case TypeBool:
		switch x := v.(type) {
		case bool:
			return x, nil
		case string:
			b, err := strconv.ParseBool(strings.TrimSpace(x))
			if err != nil {
				return nil, fmt.Errorf("%q is not true or false", x)
			}
			return b, nil
		}
	case TypeDuration:
		switch x := v.(type) {
		case time.Duration:
			return x, nil
		case string:
			d, err := time.ParseDuration(strings.TrimSpace(x))
			if err != nil {
				return nil, fmt.Errorf("%q is not a duration like 30s or 5m", x)
			}
			return d, nil
		}
	case TypeList:
		switch x := v.(type) {
		case []string:
			return x, nil
		case []any:
			out := make([]string, len(x))
			for i, e := range x {
				out[i] = fmt.Sprint(e)
			}
			return out, nil
		case string:
			if strings.TrimSpace(x) == "" {
				return []string{}, nil
			}
			return strings.Split(x, ","), nil
		}
	default:
		return nil, fmt.Errorf("unknown parameter type %q", t)
	}
	return nil, fmt.Errorf("%v (%T) is not a %s", v, v, t)
}

// String returns the string parameter name, or "" when absent.
func (p Params) String(name string) string { s, _ := p[name].(string); return s }

// Int returns the int parameter name, or 0 when absent.
func (p Params) Int(name string) int64 { n, _ := p[name].(int64); return n }

// Number returns the number parameter name, or 0 when absent.
func (p Params) Number(name string) float64 { n, _ := p[name].(float64); return n }

// Bool returns the bool parameter name, or false when absent.
func (p Params) Bool(name string) bool { b, _ := p[name].(bool); return b }

// Duration returns the duration parameter name, or 0 when absent.
func (p Params) Duration(name string) time.Duration { d, _ := p[name].(time.Duration); return d }

// List returns the list parameter name, or nil when absent.
func (p Params) List(name string) []string { l, _ := p[name].([]string); return l }

// Result is what an action reports after it ran.
type Result struct {
	// Summary is one line for the card, such as "web-asg desired 2 -> 3".
	Summary string
	// Output is the longer text for the thread (command output, API responses), capped by the action.
	Output string
}

// Action is one kind of remediation the executor can run, such as "aws.autoscaling.scale".
// Implementations are safe for concurrent use.
type Action interface {
	// Name is the name rules use, such as "script" or "aws.ecs.restart".
	Name() string
	// Schema declares the parameters; it is checked when rules load.
	Schema() Schema
	// Target names what the action changes, such as "asg/web-asg"; the executor never runs two
	// actions on the same target at once.
	Target(p Params) string
	// Describe says exactly what Execute would do with p, for the proposal card and dry runs,
	// such as "web-asg desired 2 -> 3". It may read current state but must change nothing.
	Describe(ctx context.Context, p Params) (string, error)
	// Execute does it. ctx carries the executor's timeout.
	Execute(ctx context.Context, p Params) (Result, error)
}
