package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunRefusesWhatItCannotRun(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"an unknown scenario", []string{"-scenarios", "steady,soak"}, `unknown scenario "soak"`},
		{"no binary", []string{"-bin", filepath.Join(dir, "absent"), "-out", dir}, "make loadtest"},
		{"a bad flag", []string{"-series", "many"}, "invalid value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(context.Background(), tc.args, &stdout, &stderr); code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("stderr %q lacks %q", stderr.String(), tc.want)
			}
		})
	}
}

func TestSizesComeFromTheEnvironment(t *testing.T) {
	t.Setenv("SERIES", "100000")
	t.Setenv("STORM_INTERVAL", "15s")
	t.Setenv("ALERTS", "lots")
	if got := envInt("SERIES", 1); got != 100000 {
		t.Errorf("SERIES: %d", got)
	}
	if got := envDur("STORM_INTERVAL", 0); got.String() != "15s" {
		t.Errorf("STORM_INTERVAL: %s", got)
	}
	if got := envInt("ALERTS", 7); got != 7 {
		t.Errorf("a bad ALERTS must keep the default, got %d", got)
	}
	if got := commandLine([]string{"-scenarios", "storm"}); got != "SERIES=100000 STORM_INTERVAL=15s ALERTS=lots loadtest -scenarios storm" {
		t.Errorf("command line %q", got)
	}
}
