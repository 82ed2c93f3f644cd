package rules

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smartcloudops/smartcloudops/internal/store"
)

// A rule that loads, to surround the broken parts of the files below.
const okRule = "groups:\n  - name: web\n    rules:\n      - name: web-cpu\n        query: up\n        action: {name: script, params: {script: a.sh}}\n"

// yamlErrCases are rule files the YAML parser refuses, or that only YAML features make
// invalid, with the position each problem must be reported at. The parser gives no line
// (or a wrong column) for all of them.
var yamlErrCases = []struct {
	name string
	data string
	at   string // "line:col"
	msg  string // the rest of the first error
}{
	// Unknown anchors: the first alias of the name that no anchor defines before it.
	{"unknown anchor", "groups:\n  - name: web\n    rules:\n      - name: r\n        labels: *team\n", "5:17",
		"yaml: unknown anchor 'team' referenced"},
	{"unknown anchor after decoys", "# labels: *team\ngroups:\n  - name: 'a *team'\n    rules: [*team]\n", "4:13",
		"yaml: unknown anchor 'team' referenced"},
	{"unknown anchor, longer name defined", "a: &teamx 1\nb: [*teamx, *team]\n", "2:13",
		"yaml: unknown anchor 'team' referenced"},
	{"alias before its anchor", "a: *x\nb: &x 1\n", "1:4", "yaml: unknown anchor 'x' referenced"},
	{"unknown anchor after a line separator", "a: 1\u2028b: *zz\n", "2:4", "yaml: unknown anchor 'zz' referenced"},

	// Characters the reader refuses: the first offending character.
	{"control character", "groups:\n  - name: web\x01\n", "2:14", `yaml: control characters are not allowed: "\x01"`},
	{"control character quoted", "groups:\n  - name: \"w\x1b\"\n", "2:13", `yaml: control characters are not allowed: "\x1b"`},
	{"NUL", okRule + "# \x00\n", "7:3", `yaml: control characters are not allowed: "\x00"`},
	{"DEL after multibyte", "groups:\n  - name: é\x7f\n", "2:12", `yaml: control characters are not allowed: "\x7f"`},
	{"C1 control", "a: x\u0080\n", "1:5", `yaml: control characters are not allowed: "\u0080"`},
	{"noncharacter", "a: \"x\ufffe\"\n", "1:6", `yaml: control characters are not allowed: "\ufffe"`},
	{"invalid UTF-8", "groups:\n  - name: wéb\xff\n", "2:14", `yaml: invalid leading UTF-8 octet: "\xff"`},
	{"invalid trailing octet", "a: 1\nb: x\xe2\x28\xa1\n", "2:5", `yaml: invalid trailing UTF-8 octet: "\xe2"`},
	{"overlong UTF-8", "a: \xc0\xaf\n", "1:4", `yaml: invalid length of a UTF-8 sequence: "\xc0"`},
	{"UTF-8 surrogate", "a: 'b\xed\xa0\x80'\n", "1:6", `yaml: invalid Unicode character: "\xed"`},
	{"UTF-8 cut at the end", "a: b\xe2\x82", "1:5", `yaml: incomplete UTF-8 octet sequence: "\xe2"`},
	{"BOM is no column", "\ufeffa: \x02\n", "1:4", `yaml: control characters are not allowed: "\x02"`},
	{"UTF-16 control character", "\xff\xfea\x00:\x00 \x00\n\x00b\x00\x01\x00", "2:2", `yaml: control characters are not allowed: "\x01"`},

	// Tabs for indentation.
	{"tab on line 1", "\tgroups: []\n", "1:1", "yaml: found character that cannot start any token"},
	{"tab on line 2", "groups:\n\t- name: web\n", "2:1", "yaml: found character that cannot start any token"},
	{"tab after spaces", "groups:\n  \t- name: web\n", "2:3", "yaml: found character that cannot start any token"},

	// Other problems the parser reports without a line because they are on line 1.
	{"mapping value on line 1", "groups: name: web\n", "1:13", "yaml: mapping values are not allowed in this context"},
	{"unknown escape", "a: 1\nb: \"wé\\q\"\n", "2:7", "yaml: found unknown escape character"},
	{"unknown directive", "%FOO bar\n---\ngroups: []\n", "1:2", "yaml: found unknown directive name"},

	// Very deep nesting.
	{"deep flow nesting", strings.Repeat("[", 10001) + strings.Repeat("]", 10001), "1:10001", "yaml: exceeded max depth of 10000"},
	{"deep flow nesting on line 3", "# x\ngroups:\n  - " + strings.Repeat("{a: ", 10001) + strings.Repeat("}", 10001), "3:40005",
		"yaml: exceeded max depth of 10000"},
	{"deep block nesting", "groups:\n  " + strings.Repeat("- ", 10001) + "x\n", "2:20001", "yaml: exceeded max depth of 10000"},

	// Aliases: a value that contains itself, and documents that expand far beyond their size.
	{"anchor contains itself", "groups: &a [*a]", "1:13", "yaml: anchor 'a' value contains itself"},
	{"billion laughs", "a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n" +
		"d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\ngroups: [*e]\n", "4:17", "yaml: document contains excessive aliasing"},
	{"groups and rules repeated by aliases", "x: &r {name: r, query: up, when: value > 1, action: {name: script, params: {script: a.sh}}}\n" +
		"y: &g {name: g, rules: [" + strings.Repeat("*r, ", 2000) + "*r]}\ngroups: [" + strings.Repeat("*g, ", 2000) + "*g]\n",
		"3:30", "yaml: document contains excessive aliasing"},

	// Structure: the top level, and keys given twice.
	{"top level is a list", "- name: web\n- name: db\n", "1:1", "want a mapping"},
	{"top level is a scalar", "# rules\nweb\n", "2:1", `want a mapping: "web"`},
	{"top level key twice", okRule + "groups: []\n", "7:1", `groups: field given twice: "groups"`},
	{"rule key twice", strings.Replace(okRule, "query: up\n", "query: up\n        query: down\n", 1), "6:9",
		`groups[0].rules[0].query: field given twice: "query"`},
	{"param key twice", strings.Replace(okRule, "{script: a.sh}", "{script: a.sh, script: b.sh}", 1), "6:55",
		`groups[0].rules[0].action.params.script: key given twice (first at line 6): "script"`},
	{"nested param key twice", strings.Replace(okRule, "{script: a.sh}", "{script: a.sh, args: [{x: 1,\n          x: 2}]}", 1), "7:11",
		`groups[0].rules[0].action.params.args[0].x: key given twice (first at line 6): "x"`},
	{"param of the wrong tag", strings.Replace(okRule, "action: {name: script, params: {script: a.sh}}", "action:\n          name: script\n          params:\n            script: a.sh\n            args: !!int x", 1), "10:19",
		"groups[0].rules[0].action.params: cannot decode !!str `x` as a !!int"},
}

func TestYAMLErrorPositions(t *testing.T) {
	dir := t.TempDir()
	for _, c := range yamlErrCases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".yaml")
			if err := os.WriteFile(path, []byte(c.data), 0o644); err != nil {
				t.Fatal(err)
			}
			// A document that would take hours to expand is refused at the alias, before decoding;
			// were it not, this test would run into go test's timeout.
			set, err := Load([]string{path}, LoadOptions{Actions: testActions})
			if set != nil || err == nil {
				t.Fatalf("loaded %v, err %v", set, err)
			}
			errs := splitJoined(err)
			want := path + ":" + c.at + ": " + c.msg
			if got := errs[0].Error(); got != want {
				t.Errorf("got  %s\nwant %s", got, want)
			}
			for _, e := range errs {
				var re *Error
				if !errors.As(e, &re) || re.File != path || re.Line <= 0 || re.Col <= 0 {
					t.Errorf("error without a position: %v", e)
				}
			}
		})
	}
}

// A file the parser refuses loads nothing: Sync fails and the store keeps the set it had.
func TestYAMLErrorKeepsStoredRules(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	dir, commit := gitRepo(t)
	commit(map[string]string{"rules/a.yaml": syncA}, "good")
	opts := SyncOptions{Load: LoadOptions{Actions: testActions}}
	if _, err := Sync(ctx, st, dir, opts); err != nil {
		t.Fatal(err)
	}
	before, err := st.List(ctx, "rules/")
	if err != nil {
		t.Fatal(err)
	}
	_, info, err := LoadFromStore(ctx, st, LoadOptions{Actions: testActions})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range yamlErrCases {
		commit(map[string]string{"rules/b.yaml": c.data}, c.name)
		_, err := Sync(ctx, st, dir, opts)
		if err == nil || !strings.Contains(err.Error(), "rules/b.yaml:"+c.at+": ") {
			t.Errorf("%s: sync error %v, want one at rules/b.yaml:%s", c.name, err, c.at)
		}
		after, err := st.List(ctx, "rules/")
		if err != nil {
			t.Fatal(err)
		}
		if len(after) != len(before) {
			t.Fatalf("%s: store has %d keys, had %d", c.name, len(after), len(before))
		}
		for i := range after {
			if after[i].Key != before[i].Key || string(after[i].Value) != string(before[i].Value) {
				t.Fatalf("%s: store key %s changed", c.name, after[i].Key)
			}
		}
		set, got, err := LoadFromStore(ctx, st, LoadOptions{Actions: testActions})
		if err != nil || got.Commit != info.Commit || set.Len() != 3 {
			t.Fatalf("%s: stored set now %v at %s: %v", c.name, set, got.Commit, err)
		}
	}
}
