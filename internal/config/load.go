package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
)

// EnvPrefix starts every environment override, as in SMARTCLOUDOPS_LISTEN=0.0.0.0:9090.
const EnvPrefix = "SMARTCLOUDOPS_"

// Load reads the file at path (Default when path is empty), applies environment overrides from
// environ (os.Environ() form) and validates the result. Every problem is reported at once, each
// naming the file, line and field path.
func Load(path string, environ []string) (Config, error) {
	if path == "" {
		return LoadBytes("(defaults)", nil, environ)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return Default(), fmt.Errorf("config: %w", err)
	}
	return LoadBytes(path, data, environ)
}

// LoadBytes is Load for a configuration held in memory (the embedded default); name is used
// in messages.
func LoadBytes(name string, data []byte, environ []string) (Config, error) {
	cfg, lines, err := Parse(name, data)
	if err != nil {
		return cfg, err
	}
	var errs []error
	if err := applyEnv(&cfg, environ); err != nil {
		errs = append(errs, err)
	}
	for _, fe := range cfg.validate() {
		errs = append(errs, fe.located(name, lines))
	}
	return cfg, errors.Join(errs...)
}

// Parse decodes YAML over Default. Unknown fields and malformed values are errors with a line
// number; the returned map gives the line of each field path, for validation messages.
func Parse(name string, data []byte) (Config, map[string]int, error) {
	cfg := Default()
	lines := map[string]int{}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return cfg, lines, fmt.Errorf("%s: %w", name, cleanYAMLErr(err))
	}
	if len(root.Content) == 0 {
		return cfg, lines, nil
	}
	walkLines(root.Content[0], "", lines)
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return cfg, lines, fmt.Errorf("%s: %w", name, cleanYAMLErr(err))
	}
	return cfg, lines, nil
}

func cleanYAMLErr(err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		return errors.New(strings.Join(te.Errors, "; "))
	}
	return errors.New(strings.TrimPrefix(err.Error(), "yaml: "))
}

// walkLines records the line of every mapping key and sequence item under its field path.
func walkLines(n *yaml.Node, path string, lines map[string]int) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := k.Value
			if path != "" {
				p = path + "." + k.Value
			}
			lines[p] = k.Line
			walkLines(v, p, lines)
		}
	case yaml.SequenceNode:
		for i, v := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			lines[p] = v.Line
			walkLines(v, p, lines)
		}
	}
}

// UnmarshalYAML reads "30s", "5m", "1h30m", or with days and weeks "90d", "2w".
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := parseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = v
	return nil
}

// parseDuration reads a non-negative duration in Go's notation ("1.5h", "500ms") or
// Prometheus's, which adds days, weeks and years ("90d", "1d12h").
func parseDuration(s string) (Duration, error) {
	v, err := time.ParseDuration(s)
	if err != nil {
		pd, perr := model.ParseDuration(s)
		if perr != nil {
			return 0, fmt.Errorf("%q is not a duration like 30s, 5m, 1h or 90d", s)
		}
		v = time.Duration(pd)
	}
	if v < 0 {
		return 0, fmt.Errorf("duration %q is negative", s)
	}
	return Duration(v), nil
}

// MarshalYAML writes the duration as text.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// applyEnv sets scalar fields from SMARTCLOUDOPS_<PATH> variables, where PATH is the YAML path
// upper-cased with dots turned into underscores (slack.bot_token → SMARTCLOUDOPS_SLACK_BOT_TOKEN).
func applyEnv(cfg *Config, environ []string) error {
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, EnvPrefix) {
			env[k] = v
		}
	}
	if len(env) == 0 {
		return nil
	}
	var errs []error
	known := map[string]bool{}
	setFields(reflect.ValueOf(cfg).Elem(), EnvPrefix, env, known, &errs)
	for k := range env {
		if !known[k] {
			errs = append(errs, fmt.Errorf("environment: %s does not name a config field", k))
		}
	}
	return errors.Join(errs...)
}

func setFields(v reflect.Value, prefix string, env map[string]string, known map[string]bool, errs *[]error) {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if tag == "" || tag == "-" {
			continue
		}
		name := prefix + strings.ToUpper(tag)
		fv := v.Field(i)
		if fv.Kind() == reflect.Struct {
			setFields(fv, name+"_", env, known, errs)
			continue
		}
		raw, ok := env[name]
		if !ok {
			continue
		}
		known[name] = true
		if err := setScalar(fv, raw); err != nil {
			*errs = append(*errs, fmt.Errorf("environment: %s: %w", name, err))
		}
	}
}

func setScalar(fv reflect.Value, raw string) error {
	switch fv.Interface().(type) {
	case Duration:
		d, err := parseDuration(raw)
		if err != nil {
			return err
		}
		fv.Set(reflect.ValueOf(d))
		return nil
	}
	switch fv.Kind() {
	case reflect.String:
		fv.SetString(raw)
	case reflect.Bool:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return fmt.Errorf("%q is not true or false", raw)
		}
		fv.SetBool(b)
	case reflect.Int:
		n, err := strconv.Atoi(raw)
		if err != nil {
			return fmt.Errorf("%q is not a whole number", raw)
		}
		fv.SetInt(int64(n))
	case reflect.Float64:
		n, err := strconv.ParseFloat(raw, 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", raw)
		}
		fv.SetFloat(n)
	default:
		return errors.New("this field cannot be set from the environment")
	}
	return nil
}
