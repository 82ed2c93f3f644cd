package rules

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/smartcloudops/smartcloudops/remediation"
)

// MaxFileBytes caps the size of one rule file.
const MaxFileBytes = 4 << 20

// LoadOptions configures Load.
type LoadOptions struct {
	// Actions looks up an action's parameter schema by name. When set, a rule naming an
	// unknown action or parameters that do not fit the schema is refused at load. When nil,
	// only the templates in parameters are checked.
	Actions func(name string) (remediation.Schema, bool)
	// Checks, when not nil, lists the detector checks of the configuration: a rule naming any
	// other check is refused, with the closest name offered. When nil, check names are not
	// verified; Set.CheckRules lists the rules that name one.
	Checks []string
}

// unknownCheck says that a rule's check is not one of checks.
func unknownCheck(name string, checks []string) string {
	if best := closest(name, checks); best != "" {
		return fmt.Sprintf("unknown check, did you mean %q?", best)
	}
	if len(checks) == 0 {
		return "unknown check: the configuration defines no checks"
	}
	return "unknown check: the configuration defines " + strings.Join(checks, ", ")
}

// CheckRules returns the rules of s that read a detector check, by file and line: the check
// names a caller that loaded s without LoadOptions.Checks has not verified.
func (s *Set) CheckRules() []*Rule {
	var out []*Rule
	for _, r := range s.Rules() {
		if r.Input == InputCheck {
			out = append(out, r)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].File != out[j].File {
			return out[i].File < out[j].File
		}
		return out[i].Line < out[j].Line
	})
	return out
}

// File is one rule file's name and content.
type File struct {
	Name string
	Data []byte
}

// Load reads rule files and directories (recursively: *.yaml and *.yml, skipping *_test.yaml
// and hidden directories) and compiles every rule. It reports every problem in every file at
// once, as errors.Join of *Error values.
func Load(paths []string, opts LoadOptions) (*Set, error) {
	// A path that cannot be read is reported with the problems of the files that can.
	names, err := expandPaths(paths)
	var errs []error
	if err != nil {
		errs = splitJoined(err)
	}
	files := make([]File, 0, len(names))
	for _, name := range names {
		data, err := readFile(name)
		if err != nil {
			errs = append(errs, &Error{File: name, Msg: err.Error()})
			continue
		}
		files = append(files, File{Name: name, Data: data})
	}
	set, err := Parse(files, opts)
	if err != nil {
		errs = append(errs, splitJoined(err)...)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return set, nil
}

func readFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(io.LimitReader(f, MaxFileBytes+1)); err != nil {
		return nil, err
	}
	if b.Len() > MaxFileBytes {
		return nil, fmt.Errorf("file larger than %d bytes", MaxFileBytes)
	}
	return b.Bytes(), nil
}

// IsRuleFile reports whether name is a rule file (not a rule test file).
func IsRuleFile(name string) bool {
	ext := filepath.Ext(name)
	if ext != ".yaml" && ext != ".yml" {
		return false
	}
	return !strings.HasSuffix(strings.TrimSuffix(name, ext), "_test")
}

func expandPaths(paths []string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	add := func(p string) {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	var errs []error
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			errs = append(errs, &Error{File: p, Msg: "cannot read: " + unwrapPathErr(err)})
			continue
		}
		if !st.IsDir() {
			if IsRuleFile(p) {
				add(p)
			}
			continue
		}
		found, err := filesBelow(p, IsRuleFile)
		if err != nil {
			errs = append(errs, &Error{File: p, Msg: "cannot read: " + unwrapPathErr(err)})
		}
		for _, f := range found {
			add(f)
		}
	}
	return out, errors.Join(errs...)
}

// filesBelow returns, sorted, the files below dir whose path match accepts, skipping hidden
// directories (.git and the like). On an error it returns what it found before it.
func filesBelow(dir string, match func(path string) bool) ([]string, error) {
	var found []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != dir && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		if !d.IsDir() && match(path) {
			found = append(found, path)
		}
		return nil
	})
	sort.Strings(found)
	return found, err
}

func unwrapPathErr(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// Parse compiles rule files already read into memory, with the same checks as Load.
func Parse(files []File, opts LoadOptions) (*Set, error) {
	set := &Set{}
	var errs []error
	type where struct {
		file string
		line int
	}
	ruleAt := map[string]where{}
	groupAt := map[string]where{}
	for _, f := range files {
		set.Files = append(set.Files, f.Name)
		groups, ferrs := parseFile(f.Name, f.Data, opts)
		errs = append(errs, ferrs...)
		for _, g := range groups {
			if w, dup := groupAt[g.Name]; dup {
				errs = append(errs, &Error{File: f.Name, Line: g.line, Col: g.col, Field: g.field + ".name",
					Msg: fmt.Sprintf("group name already used at %s:%d", w.file, w.line), Text: g.Name})
				continue
			}
			groupAt[g.Name] = where{f.Name, g.line}
			for _, r := range g.names {
				if w, dup := ruleAt[r.name]; dup {
					errs = append(errs, &Error{File: f.Name, Line: r.line, Col: r.col, Field: r.field + ".name",
						Msg: fmt.Sprintf("rule name already used at %s:%d", w.file, w.line), Text: r.name})
					continue
				}
				ruleAt[r.name] = where{f.Name, r.line}
			}
			set.Groups = append(set.Groups, &g.Group)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	set.index()
	return set, nil
}

// parsedGroup is a group with the position of its name, for duplicate reports.
type parsedGroup struct {
	Group
	line, col int
	field     string     // such as "groups[1]"
	names     []ruleName // every rule name seen, valid or not
}

type ruleName struct {
	name, field string
	line, col   int
}

func parseFile(name string, data []byte, opts LoadOptions) ([]*parsedGroup, []error) {
	if len(data) > MaxFileBytes {
		return nil, []error{&Error{File: name, Msg: fmt.Sprintf("file larger than %d bytes", MaxFileBytes)}}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, []error{yamlError(name, data, err)}
	}
	if at, msg := aliasProblem(&doc); at != nil {
		return nil, []error{&Error{File: name, Line: at.Line, Col: at.Column, Field: "yaml", Msg: msg}}
	}
	if doc.Kind == 0 {
		return nil, nil // an empty file holds no rules
	}
	d := &decoder{file: name, lines: strings.Split(string(data), "\n")}
	top := d.mapping(&doc, "", "groups")
	var out []*parsedGroup
	if g, ok := top["groups"]; ok {
		seq := resolve(g.val)
		if seq.Kind != yaml.SequenceNode {
			d.errAt(seq, "groups", "want a list of groups", seq.Value)
		} else {
			for i, gn := range seq.Content {
				if pg := d.group(gn, fmt.Sprintf("groups[%d]", i), opts); pg != nil {
					out = append(out, pg)
				}
			}
		}
	}
	return out, d.errs
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

func (d *decoder) group(n *yaml.Node, field string, opts LoadOptions) *parsedGroup {
	f := d.mapping(n, field, "name", "interval", "rules")
	if f == nil {
		return nil
	}
	g := &parsedGroup{Group: Group{File: d.file, Interval: DefaultInterval}, field: field}
	g.line, g.col = resolve(n).Line, resolve(n).Column
	if v, ok := f["name"]; !ok {
		d.errAt(n, field, "name is required", "")
	} else if s, ok := d.str(v.val, field+".name"); ok {
		if !nameRE.MatchString(s) {
			d.errAt(v.val, field+".name", "want letters, digits, '.', '_' or '-' (at most 128)", s)
		}
		g.Name = s
		g.line, g.col = v.val.Line, v.val.Column
	}
	if v, ok := f["interval"]; ok {
		if iv, ok := d.duration(v.val, field+".interval"); ok {
			if iv <= 0 {
				d.errAt(v.val, field+".interval", "want a positive duration", v.val.Value)
			} else {
				g.Interval = iv
			}
		}
	}
	if v, ok := f["rules"]; ok {
		seq := resolve(v.val)
		if seq.Kind != yaml.SequenceNode {
			d.errAt(seq, field+".rules", "want a list of rules", seq.Value)
			return g
		}
		for i, rn := range seq.Content {
			if r := d.rule(rn, fmt.Sprintf("%s.rules[%d]", field, i), g, opts); r != nil {
				g.Rules = append(g.Rules, r)
			}
		}
	}
	return g
}

// canonicalRule is the part of a rule that defines its meaning; its hash is the version.
type canonicalRule struct {
	Name, Group, Description, Severity string
	Labels                             map[string]string
	Input                              InputKind
	Query, Check                       string
	Alert                              []string
	When                               string
	For, Interval, Cooldown            string
	MaxRuns                            MaxRuns
	Action                             string
	Params                             map[string]any
	Approval                           Approval
	DryRun, Enabled                    bool
}

func ruleVersion(r *Rule) string {
	c := canonicalRule{
		Name: r.Name, Group: r.Group, Description: r.Description, Severity: r.Severity, Labels: r.Labels,
		Input: r.Input, Query: r.Query, Check: r.Check, When: r.When,
		For: r.For.String(), Interval: r.Interval.String(), Cooldown: r.Cooldown.String(), MaxRuns: r.MaxRuns,
		Action: r.Action.Name, Params: r.Action.Params, Approval: r.Approval, DryRun: r.DryRun, Enabled: r.Enabled,
	}
	for _, m := range r.Alert {
		c.Alert = append(c.Alert, m.String())
	}
	b, err := json.Marshal(c)
	if err != nil {
		// Params come from YAML and always marshal; fall back to the source text regardless.
		b = []byte(r.Source)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:6])
}

func nodeSource(n *yaml.Node) string {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		return ""
	}
	_ = enc.Close()
	return b.String()
}
