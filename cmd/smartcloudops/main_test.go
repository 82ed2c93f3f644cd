package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smartcloudops/smartcloudops/internal/store"
	"github.com/smartcloudops/smartcloudops/remediation/audit"
)

func cli(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func TestCLIUsageAndExitCodes(t *testing.T) {
	cases := []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "usage: smartcloudops <command>"},
		{[]string{"--help"}, 0, "commands:"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"version"}, 0, "smartcloudops dev"},
		{[]string{"version", "--help"}, 0, "usage: smartcloudops version\n\nPrints the version"},
		{[]string{"version", "-h"}, 0, "usage: smartcloudops version"},
		{[]string{"version", "now"}, 2, `version: takes no arguments, got ["now"]`},
		{[]string{"serve", "--help"}, 0, "--demo"},
		{[]string{"serve", "--help"}, 0, "The demo keeps its own in\nDATA/demo, wiped at every start, and prints an operator API key"},
		{[]string{"serve", "--bogus"}, 2, "flag provided but not defined"},
		{[]string{"config"}, 2, "usage: smartcloudops config check FILE"},
		{[]string{"config", "check", "--help"}, 0, "Every problem"},
		{[]string{"config", "check", "testdata/bad-config.yaml"}, 1, "testdata/bad-config.yaml:3: checks[0].schedule"},
		{[]string{"config", "check", "testdata/bad-model.yaml"}, 1, "testdata/bad-model.yaml:6: checks[0].model: model file testdata/not-a-model.bin: load model: not a smartcloudops model"},
		{[]string{"audit"}, 2, "usage: smartcloudops audit"},
		{[]string{"audit", "verify", "--data-dir", "/nonexistent"}, 1, "no store at /nonexistent"},
		{[]string{"audit", "export", "--data-dir", "/nonexistent"}, 2, "--since is required"},
		{[]string{"detect", "once", "--help"}, 0, "--config"},
	}
	for _, c := range cases {
		code, out, errb := cli(c.args...)
		if code != c.code || !strings.Contains(out+errb, c.want) {
			t.Errorf("smartcloudops %v = %d\nstdout: %s\nstderr: %s\nwant exit %d and %q", c.args, code, out, errb, c.code, c.want)
		}
	}
}

// TestAuditVerifyDetectsTampering writes an audit trail, verifies and exports it, then alters one
// stored record: verify must fail.
func TestAuditVerifyDetectsTampering(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "smartcloudops.db")
	st, err := store.OpenBolt(path, store.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	l, _ := audit.New(audit.Options{Store: st})
	ctx := context.Background()
	for _, k := range []string{"proposal.created", "proposal.approved", "action.succeeded"} {
		if _, err := l.Append(ctx, audit.Record{Kind: k, Proposal: "p-1", User: "console:alice"}); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	if code, out, errb := cli("audit", "verify", "--data-dir", dir); code != 0 || !strings.Contains(out, "3 records") {
		t.Fatalf("verify intact: %d %s %s", code, out, errb)
	}
	logs := filepath.Join(dir, "logs")
	if code, out, errb := cli("audit", "export", "--data-dir", dir, "--since", "1h", "--out", logs); code != 0 || !strings.Contains(out, "exported 3 records") {
		t.Fatalf("export: %d %s %s", code, out, errb)
	}
	files, _ := filepath.Glob(filepath.Join(logs, "audit-*.jsonl"))
	if len(files) != 1 {
		t.Fatalf("export files: %v", files)
	}
	b, _ := os.ReadFile(files[0])
	if strings.Count(string(b), "\n") != 3 {
		t.Fatalf("export has %q", b)
	}

	st, _ = store.OpenBolt(path, store.BoltOptions{})
	kvs, _ := st.List(ctx, "audit/records/")
	var r audit.Record
	json.Unmarshal(kvs[1].Value, &r)
	r.User = "console:mallory"
	nb, _ := json.Marshal(r)
	st.Put(ctx, kvs[1].Key, nb)
	st.Close()
	if code, _, errb := cli("audit", "verify", "--data-dir", dir); code != 1 || !strings.Contains(errb, "record 2 was altered") {
		t.Fatalf("verify after tampering: %d %s", code, errb)
	}
}
