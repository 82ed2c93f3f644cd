//go:build integration

package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smartcloudops/smartcloudops/internal/store"
	"github.com/smartcloudops/smartcloudops/internal/testenv"
)

// TestIntegrationStoreMigrateToEtcd migrates a populated bbolt store, audit chain included, into
// etcd; the copy verifies, a second migration into the same prefix is refused, and `store check`
// sees the prefix claimed by the deployment.
func TestIntegrationStoreMigrateToEtcd(t *testing.T) {
	e := testenv.StartEtcd(t, testenv.EtcdOptions{})
	dir := writeAudit(t, 50)
	st, err := store.OpenBolt(filepath.Join(dir, "smartcloudops.db"), store.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		if _, err := st.Put(context.Background(), fmt.Sprintf("incidents/i-%04d", i), []byte(`{"state":"resolved"}`)); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	cfg := writeConfig(t, dir, fmt.Sprintf("store:\n  backend: etcd\n  etcd:\n    endpoints: [%s]\n    prefix: /smartcloudops/test/\n    deployment: test\n", e.Endpoints()[0]))
	code, out, errb := cli("store", "check", "--config", cfg)
	if code != 0 || !strings.Contains(out, "is empty: the first replica claims it") {
		t.Fatalf("check before: %d %s %s", code, out, errb)
	}
	code, out, errb = cli("store", "migrate", "--from", "bbolt", "--to", "etcd", "--config", cfg)
	if code != 0 || !strings.Contains(out, "copied 351 keys") || !strings.Contains(out, "audit log intact on etcd: 50 records") {
		t.Fatalf("migrate: %d\nstdout: %s\nstderr: %s", code, out, errb)
	}
	t.Log(out)
	code, out, errb = cli("store", "migrate", "--from", "bbolt", "--to", "etcd", "--config", cfg)
	if code != 1 || !strings.Contains(errb, "already holds keys") || !strings.Contains(errb, "--overwrite") {
		t.Fatalf("second migrate: %d %s %s", code, out, errb)
	}
	code, out, errb = cli("store", "check", "--config", cfg)
	if code != 0 || !strings.Contains(out, `belongs to deployment "test"`) {
		t.Fatalf("check after: %d %s %s", code, out, errb)
	}
	other := writeConfig(t, dir, fmt.Sprintf("store:\n  backend: etcd\n  etcd:\n    endpoints: [%s]\n    prefix: /smartcloudops/test/\n    deployment: staging\n", e.Endpoints()[0]))
	code, _, errb = cli("store", "check", "--config", other)
	if code != 1 || !strings.Contains(errb, `store.etcd.prefix: "/smartcloudops/test/" belongs to deployment "test", not "staging"`) {
		t.Fatalf("check by another deployment: %d %s", code, errb)
	}
}
