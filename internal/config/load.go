package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
)

// EnvPrefix starts every environment override, as in SMARTCLOUDOPS_LISTEN=0.0.0.0:9090.
const EnvPrefix = "SMARTCLOUDOPS_"

// Load reads the file at path (Default when path is empty), applies environment overrides from
// environ (os.Environ() form) and validates the result. Every problem is reported at once, each
// naming the file, line and field path. Relative paths in the file are read relative to the
// file's directory (see paths.go).
func Load(path string, environ []string) (Config, error) {
	cfg, _, err := LoadSource(path, environ)
	return cfg, err
}

// LoadSource is Load that also returns where each field of the file is, so that problems found
// later, such as a secret reference that does not resolve, can be reported at their line.
func LoadSource(path string, environ []string) (Config, Source, error) {
	if path == "" {
		return loadBytes("(defaults)", "", nil, environ)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return Default(), Source{file: path}, fmt.Errorf("config: %w", err)
	}
	return loadBytes(path, filepath.Dir(path), data, environ)
}

// LoadBytes is Load for a configuration held in memory (the embedded default); name is used
// in messages. Having no file, it reads relative paths relative to the working directory.
func LoadBytes(name string, data []byte, environ []string) (Config, error) {
	cfg, _, err := loadBytes(name, "", data, environ)
	return cfg, err
}

// loadBytes loads data, read from the file name in the directory dir ("" for none).
func loadBytes(name, dir string, data []byte, environ []string) (Config, Source, error) {
	cfg, lines, bad, errs, err := parse(name, data)
	src := Source{file: name, lines: lines}
	if err != nil {
		return cfg, src, err
	}
	if dir != "" {
		src.moved = cfg.resolvePaths(dir, lines)
	}
	src.env, err = applyEnv(&cfg, environ)
	if err != nil {
		errs = append(errs, err)
	}
	// A field that did not decode keeps its default; its validation would only repeat the
	// problem, or report one of a value the file does not hold.
	for _, fe := range cfg.validate() {
		if !under(fe.path, bad) {
			errs = append(errs, src.place(fe))
		}
	}
	return cfg, src, errors.Join(errs...)
}

// under reports whether path is one of paths or lies below one.
func under(path string, paths []string) bool {
	for _, p := range paths {
		if path == p || strings.HasPrefix(path, p+".") || strings.HasPrefix(path, p+"[") {
			return true
		}
	}
	return false
}

// Source is the file a configuration was read from, with the line of each field path, and the
// fields that environment variables set.
type Source struct {
	file  string
	lines map[string]int
	env   map[string]string // field path → the variable that set it
	moved []fieldError      // relative paths that named something else before; see Warnings
}

// Errorf returns a problem of the field at path (such as "checks[1].file") worded like every
// other configuration error: "file:line: path: message", with the line of the field or of its
// closest ancestor that the file spells out; or, for a field an environment variable set,
// "environment: VARIABLE: path: message", since the file's line does not hold the value.
func (s Source) Errorf(path, format string, args ...any) error {
	return s.place(fieldError{path, fmt.Sprintf(format, args...)})
}

func (s Source) place(fe fieldError) error {
	if v, ok := s.env[fe.path]; ok {
		return fmt.Errorf("environment: %s: %s: %s", v, fe.path, fe.msg)
	}
	return fe.located(s.file, s.lines)
}

// Parse decodes YAML over Default. Unknown fields and malformed values are errors naming the
// line and field path, all of them at once; the returned map gives the line of each field path,
// for validation messages.
func Parse(name string, data []byte) (Config, map[string]int, error) {
	cfg, lines, _, errs, err := parse(name, data)
	if err != nil {
		return cfg, lines, err
	}
	return cfg, lines, errors.Join(errs...)
}

// parse decodes data over Default. A YAML syntax error is returned as err, with nothing decoded.
// Fields that do not decode (a wrong type, an unknown name) are each reported in errs and leave
// the rest of the file decoded; bad lists their field paths.
func parse(name string, data []byte) (cfg Config, lines map[string]int, bad []string, errs []error, err error) {
	cfg = Default()
	lines = map[string]int{}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		msg := cleanYAMLErr(err).Error()
		if m := decodeErrRE.FindStringSubmatch(msg); m != nil {
			return cfg, lines, nil, nil, fmt.Errorf("%s:%s: %s", name, m[1], m[2])
		}
		return cfg, lines, nil, nil, fmt.Errorf("%s: %s", name, msg)
	}
	if len(root.Content) == 0 {
		return cfg, lines, nil, nil, nil
	}
	nodes := map[int][]placed{}
	walkLines(root.Content[0], "", reflect.TypeFor[Config](), lines, nodes)
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	err = dec.Decode(&cfg)
	var te *yaml.TypeError
	switch {
	case err == nil || errors.Is(err, io.EOF):
		return cfg, lines, nil, nil, nil
	case !errors.As(err, &te):
		return cfg, lines, nil, nil, fmt.Errorf("%s: %w", name, cleanYAMLErr(err))
	}
	for _, msg := range te.Errors {
		line, path, text := describeDecodeError(msg, nodes)
		switch {
		case line == 0:
			errs = append(errs, fmt.Errorf("%s: %s", name, text))
		case path == "":
			errs = append(errs, fmt.Errorf("%s:%d: %s", name, line, text))
		default:
			errs = append(errs, fmt.Errorf("%s:%d: %s: %s", name, line, path, text))
			bad = append(bad, path)
		}
	}
	return cfg, lines, bad, errs, nil
}

func cleanYAMLErr(err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		return errors.New(strings.Join(te.Errors, "; "))
	}
	return errors.New(strings.TrimPrefix(err.Error(), "yaml: "))
}

// placed is a node of the file with its field path and the Go type it decodes into (nil for an
// unknown field); key marks the key of a mapping entry rather than its value.
type placed struct {
	path string
	t    reflect.Type
	key  bool
	n    *yaml.Node
}

// walkLines records the line of every mapping key and sequence item under its field path, and
// files every key and value node under its line, for placing decoding errors; t is the type n
// decodes into.
func walkLines(n *yaml.Node, path string, t reflect.Type, lines map[string]int, nodes map[int][]placed) {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := k.Value
			if path != "" {
				p = path + "." + k.Value
			}
			vt := fieldType(t, k.Value)
			lines[p] = k.Line
			nodes[k.Line] = append(nodes[k.Line], placed{p, vt, true, k})
			nodes[v.Line] = append(nodes[v.Line], placed{p, vt, false, v})
			walkLines(v, p, vt, lines, nodes)
		}
	case yaml.SequenceNode:
		var et reflect.Type
		if t != nil && t.Kind() == reflect.Slice {
			et = t.Elem()
		}
		for i, v := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			lines[p] = v.Line
			nodes[v.Line] = append(nodes[v.Line], placed{p, et, false, v})
			walkLines(v, p, et, lines, nodes)
		}
	}
}

// fieldType is the type of the field or map entry name of t, nil when there is none.
func fieldType(t reflect.Type, name string) reflect.Type {
	switch {
	case t == nil:
		return nil
	case t.Kind() == reflect.Map:
		return t.Elem()
	case t.Kind() != reflect.Struct:
		return nil
	}
	for i := range t.NumField() {
		if f := t.Field(i); strings.Split(f.Tag.Get("yaml"), ",")[0] == name {
			return f.Type
		}
	}
	return nil
}

var (
	decodeErrRE = regexp.MustCompile(`(?s)^line (\d+): (.*)$`)
	unmarshalRE = regexp.MustCompile("(?s)^cannot unmarshal (\\S+?)(?: `(.*)`)? into (\\S+)$")
	unknownRE   = regexp.MustCompile(`^field (\S+) not found in type \S+$`)
	duplicateRE = regexp.MustCompile(`^mapping key "(.*)" already defined at line (\d+)$`)
	configTypes = typeKinds(reflect.TypeFor[Config](), map[string]reflect.Kind{})
)

// describeDecodeError turns one of yaml's decoding messages ("line 2: cannot unmarshal !!str
// `lots` into int") into its line, the field path and a message in this package's words
// ("\"lots\" is not a whole number"). The path is empty when no field of that line fits.
func describeDecodeError(msg string, nodes map[int][]placed) (int, string, string) {
	m := decodeErrRE.FindStringSubmatch(msg)
	if m == nil {
		return 0, "", msg
	}
	line, _ := strconv.Atoi(m[1])
	text := m[2]
	at := nodes[line]
	find := func(match func(placed) bool) string {
		for _, pn := range at {
			if match(pn) {
				return pn.path
			}
		}
		return ""
	}
	if u := unmarshalRE.FindStringSubmatch(text); u != nil {
		tag, shown, into := u[1], u[2], u[3]
		decodesInto := func(pn placed) bool { return !pn.key && pn.t != nil && pn.t.String() == into }
		switch tag {
		case "!!seq", "!!map":
			kind, what := yaml.SequenceNode, "a list"
			if tag == "!!map" {
				kind, what = yaml.MappingNode, "a mapping"
			}
			return line, find(func(pn placed) bool { return decodesInto(pn) && pn.n.Kind == kind }), fmt.Sprintf("want %s, not %s", wording(into), what)
		}
		value := shown
		path := find(func(pn placed) bool {
			if !decodesInto(pn) || pn.n.Kind != yaml.ScalarNode || shortened(pn.n.Value) != shown {
				return false
			}
			value = pn.n.Value
			return true
		})
		return line, path, fmt.Sprintf("%q is not %s", value, wording(into))
	}
	if u := unknownRE.FindStringSubmatch(text); u != nil {
		return line, find(func(pn placed) bool { return pn.key && pn.t == nil && pn.n.Value == u[1] }), "unknown field"
	}
	if u := duplicateRE.FindStringSubmatch(text); u != nil {
		return line, find(func(pn placed) bool { return pn.key && pn.n.Value == u[1] }), "already set on line " + u[2]
	}
	// A message of UnmarshalYAML, which only Duration and ByteSize have: it quotes the value
	// when it is one.
	isDuration := func(pn placed) bool {
		return !pn.key && (pn.t == reflect.TypeFor[Duration]() || pn.t == reflect.TypeFor[ByteSize]())
	}
	path := find(func(pn placed) bool {
		return isDuration(pn) && pn.n.Kind == yaml.ScalarNode && strings.Contains(text, strconv.Quote(pn.n.Value))
	})
	if path == "" {
		path = find(isDuration)
	}
	return line, path, text
}

// shortened is a value as yaml quotes it in a decoding message.
func shortened(v string) string {
	if len(v) > 10 {
		return v[:7] + "..."
	}
	return v
}

// wording says what a Go type of the configuration wants, such as "a whole number" for int.
func wording(goType string) string {
	switch configTypes[strings.TrimPrefix(goType, "*")] {
	case reflect.Slice:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a mapping"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	}
	return goType
}

// typeKinds records the kind of t and of every type within it under its name as reflect spells
// it, such as "[]config.Check" or "float64".
func typeKinds(t reflect.Type, kinds map[string]reflect.Kind) map[string]reflect.Kind {
	if _, done := kinds[t.String()]; done {
		return kinds
	}
	kinds[t.String()] = t.Kind()
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice:
		typeKinds(t.Elem(), kinds)
	case reflect.Map:
		typeKinds(t.Key(), kinds)
		typeKinds(t.Elem(), kinds)
	case reflect.Struct:
		for i := range t.NumField() {
			typeKinds(t.Field(i).Type, kinds)
		}
	}
	return kinds
}

// UnmarshalYAML reads "30s", "5m", "1h30m", or with days and weeks "90d", "2w". A bad value is
// a *yaml.TypeError, so decoding goes on and every bad value of the file is reported.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: want a duration like 30s, 5m, 1h or 90d", n.Line)}}
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %v", n.Line, err)}}
	}
	*d = v
	return nil
}

// UnmarshalYAML reads a byte size: a number of bytes, or one with a unit (B, KB, MB, GB, TB
// decimal; KiB, MiB, GiB, TiB binary), such as 1.5GiB or 900MB. A bad value is a
// *yaml.TypeError, so decoding goes on and every bad value of the file is reported.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: want a size like 900MB or 1.5GiB", n.Line)}}
	}
	v, err := ParseByteSize(n.Value)
	if err != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %v", n.Line, err)}}
	}
	*b = v
	return nil
}

// byteUnits are the units ParseByteSize reads, longest first so KiB is not read as B.
var byteUnits = []struct {
	suffix string
	mult   float64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1},
}

// ParseByteSize reads a non-negative byte size: a number of bytes, or one with a unit such as
// 1.5GiB or 900MB; empty is 0, unset.
func ParseByteSize(s string) (ByteSize, error) {
	num, mult := strings.TrimSpace(s), 1.0
	if num == "" {
		return 0, nil // unset
	}
	for _, u := range byteUnits {
		if rest, ok := strings.CutSuffix(num, u.suffix); ok {
			num, mult = strings.TrimSpace(rest), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%q is not a size like 900MB or 1.5GiB", clip(s))
	}
	if v < 0 {
		return 0, fmt.Errorf("size %q is negative", clip(s))
	}
	if v*mult >= math.MaxInt64 {
		return 0, fmt.Errorf("size %q is too large", clip(s))
	}
	return ByteSize(v * mult), nil
}

// ParseDuration reads a non-negative duration as the configuration writes it: in Go's notation
// ("1.5h", "500ms") or Prometheus's, which adds days, weeks and years ("90d", "1d12h").
func ParseDuration(s string) (Duration, error) {
	v, err := time.ParseDuration(s)
	if err != nil {
		pd, perr := model.ParseDuration(s)
		if perr != nil {
			return 0, fmt.Errorf("%q is not a duration like 30s, 5m, 1h or 90d", clip(s))
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
// It returns the field paths it set, each with the variable that set it.
func applyEnv(cfg *Config, environ []string) (map[string]string, error) {
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, EnvPrefix) {
			env[k] = v
		}
	}
	if len(env) == 0 {
		return nil, nil
	}
	var errs []error
	set := map[string]string{}
	setFields(reflect.ValueOf(cfg).Elem(), EnvPrefix, "", env, set, &errs)
	known := map[string]bool{}
	for _, v := range set {
		known[v] = true
	}
	for k := range env {
		if !known[k] {
			errs = append(errs, fmt.Errorf("environment: %s does not name a config field", clip(k)))
		}
	}
	return set, errors.Join(errs...)
}

// setFields sets the fields of v named by variables of env; prefix is the variables' prefix
// for v and path the field path of v. It records each field set, by path, in set.
func setFields(v reflect.Value, prefix, path string, env map[string]string, set map[string]string, errs *[]error) {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if tag == "" || tag == "-" {
			continue
		}
		name := prefix + strings.ToUpper(tag)
		fpath := tag
		if path != "" {
			fpath = path + "." + tag
		}
		fv := v.Field(i)
		if fv.Kind() == reflect.Struct {
			setFields(fv, name+"_", fpath, env, set, errs)
			continue
		}
		if fv.Kind() == reflect.Pointer && fv.Type().Elem().Kind() == reflect.Struct {
			// An optional section such as prometheus.basic_auth: fill the one the file set, or
			// a new one, kept only if a variable names a field of it.
			if !fv.IsNil() {
				setFields(fv.Elem(), name+"_", fpath, env, set, errs)
				continue
			}
			before := len(set)
			nv := reflect.New(fv.Type().Elem())
			setFields(nv.Elem(), name+"_", fpath, env, set, errs)
			if len(set) > before {
				fv.Set(nv)
			}
			continue
		}
		raw, ok := env[name]
		if !ok {
			continue
		}
		set[fpath] = name
		if err := setScalar(fv, raw); err != nil {
			*errs = append(*errs, fmt.Errorf("environment: %s: %s: %w", name, fpath, err))
		}
	}
}

// clip shortens text quoted back in a message: a variable name or value of any length is shown
// by its first 64 characters.
func clip(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func setScalar(fv reflect.Value, raw string) error {
	switch fv.Interface().(type) {
	case Duration:
		d, err := ParseDuration(raw)
		if err != nil {
			return err
		}
		fv.Set(reflect.ValueOf(d))
		return nil
	case ByteSize:
		b, err := ParseByteSize(raw)
		if err != nil {
			return err
		}
		fv.Set(reflect.ValueOf(b))
		return nil
	}
	switch fv.Kind() {
	case reflect.String:
		fv.SetString(raw)
	case reflect.Bool:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return fmt.Errorf("%q is not true or false", clip(raw))
		}
		fv.SetBool(b)
	case reflect.Int:
		n, err := strconv.Atoi(raw)
		if err != nil {
			return fmt.Errorf("%q is not a whole number", clip(raw))
		}
		fv.SetInt(int64(n))
	case reflect.Float64:
		n, err := strconv.ParseFloat(raw, 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", clip(raw))
		}
		fv.SetFloat(n)
	default:
		return errors.New("this field cannot be set from the environment")
	}
	return nil
}
