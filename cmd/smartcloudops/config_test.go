package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smartcloudops/smartcloudops/remediation"
	"github.com/smartcloudops/smartcloudops/rules"
)

// TestConfigCheckExample checks the example configuration from the repository root and from
// another directory: its relative paths are read relative to the file, so both see the same.
func TestConfigCheckExample(t *testing.T) {
	for _, c := range []struct{ dir, file string }{{"../..", "examples/smartcloudops.yaml"}, {"../../internal", "../examples/smartcloudops.yaml"}} {
		t.Run(c.dir, func(t *testing.T) {
			t.Chdir(c.dir)
			code, out, errb := cli("config", "check", c.file)
			rules := filepath.Join(filepath.Dir(c.file), "rules")
			if code != 0 || errb != "" || out != fmt.Sprintf("ok: %s: 4 checks, 3 roles, 1 rules from [%s/host.yaml %s/aws.yaml]\n", c.file, rules, rules) {
				t.Fatalf("config check = %d\nstdout: %s\nstderr: %s", code, out, errb)
			}
		})
	}
}

// TestConfigCheckAsServe checks a configuration that loads but that serve refuses: secrets that
// do not resolve, a missing rule path, a rule naming a disabled action, a missing replay file,
// script directory and model. Each is reported at its line; secrets serve does not read are not.
func TestConfigCheckAsServe(t *testing.T) {
	t.Setenv("SCO_TEST_UNSET", "")
	cases := []struct {
		name, file string
		code       int
	}{
		{"serve-rejects", "testdata/config/serve-rejects.yaml", 1},
		{"aws-ssm", "testdata/config/aws-ssm.yaml", 0},
		{"moved", "testdata/config/moved.yaml", 1},
		{"aws-limits", "testdata/config/aws-limits.yaml", 1},
	}
	// No region from the environment or a shared config file: only the file can give one.
	for _, k := range []string{"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("SCO_TEST_APP_TOKEN", "xapp-test")
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out, errb := cli("config", "check", c.file)
			if code != c.code {
				t.Errorf("exit %d, want %d", code, c.code)
			}
			got := strings.ReplaceAll("--- stdout\n"+out+"--- stderr\n"+errb, wd, "$PWD")
			goldenFile(t, filepath.Join("testdata", "config", c.name+".golden"), got)
		})
	}
}

// TestConfigCheckTypeErrors checks that a value of the wrong type is reported with its field,
// beside every other problem of the file.
func TestConfigCheckTypeErrors(t *testing.T) {
	code, _, errb := cli("config", "check", "testdata/config/type-errors.yaml")
	for _, want := range []string{
		`testdata/config/type-errors.yaml:2: executor.max_per_hour: "lots" is not a whole number`,
		`testdata/config/type-errors.yaml:3: listen: "nope" is not host:port`,
		`testdata/config/type-errors.yaml:6: rules.paths[0]: testdata/config/no-such-rules: cannot read`,
		"3 problem(s) found",
	} {
		if !strings.Contains(errb, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errb)
		}
	}
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
}

// TestServeWarnsOfMovedPaths starts serve with a configuration whose data_dir, read relative to
// the working directory as before, is a directory that exists: the log warns that the path now
// means a place beside the file.
func TestServeWarnsOfMovedPaths(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, d := range []string{"conf", "state"} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile("conf/bot.yaml", []byte("data_dir: state\nlisten: \"\"\nconsole: {enabled: false}\nlog: {format: text}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A cancelled context stops serve during start-up, after the configuration is read.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out, errb bytes.Buffer
	run(ctx, []string{"serve", "--config", "conf/bot.yaml"}, strings.NewReader(""), &out, &errb)
	if !strings.Contains(errb.String(), "configuration: a relative path changed meaning") ||
		!strings.Contains(errb.String(), `data_dir: \"state\" is read relative to this file, as conf/state, which does not exist`) {
		t.Fatalf("serve logged:\n%s", errb.String())
	}
	if _, err := os.Stat("conf/state/smartcloudops.db"); err != nil {
		t.Fatalf("the store is not beside the file: %v", err)
	}
}

// TestAWSExampleRulesUncommented: the commented AWS examples load once uncommented, with the
// parameters the AWS actions take.
func TestAWSExampleRulesUncommented(t *testing.T) {
	data, err := os.ReadFile("../../examples/rules/aws.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var yaml []string
	started := false
	for _, line := range strings.Split(string(data), "\n") {
		started = started || line == "# groups:"
		if started {
			yaml = append(yaml, strings.TrimPrefix(strings.TrimPrefix(line, "#"), " "))
		}
	}
	if len(yaml) == 0 {
		t.Fatal("no commented groups found")
	}
	p := filepath.Join(t.TempDir(), "aws.yaml")
	if err := os.WriteFile(p, []byte(strings.Join(yaml, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	set, err := rules.Load([]string{p}, rules.LoadOptions{Actions: remediation.LimitRunTime(rulesActionSchemas, 5*time.Minute)})
	if err != nil {
		t.Fatalf("the uncommented examples do not load:\n%v", err)
	}
	if set.Len() != 3 {
		t.Fatalf("%d rules, want 3", set.Len())
	}
}
