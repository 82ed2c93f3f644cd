package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smartcloudops/smartcloudops/internal/store"
)

// writeConfig writes a configuration whose data_dir is dir, with extra YAML appended.
func writeConfig(t *testing.T, dir, extra string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "smartcloudops.yaml")
	if err := os.WriteFile(p, fmt.Appendf(nil, "data_dir: %s\n%s", dir, extra), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestStoreCommandsOnBbolt(t *testing.T) {
	dir := writeAudit(t, 5)
	cfg := writeConfig(t, dir, "")
	st, err := store.OpenBolt(filepath.Join(dir, "smartcloudops.db"), store.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2000 { // garbage to compact away
		if _, err := st.Put(context.Background(), fmt.Sprintf("junk/%d", i), make([]byte, 1000)); err != nil {
			t.Fatal(err)
		}
		if err := st.Delete(context.Background(), fmt.Sprintf("junk/%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"store"}, 2, "usage: smartcloudops store"},
		{[]string{"store", "check"}, 1, "--config is required"},
		{[]string{"store", "check", "--config", cfg}, 0, "ok: bbolt store " + dir},
		{[]string{"store", "migrate", "--from", "bbolt", "--to", "bbolt", "--config", cfg}, 2, "only --from bbolt --to etcd"},
		{[]string{"store", "migrate", "--from", "bbolt", "--to", "etcd", "--config", cfg}, 1, `store.backend is "bbolt"; set it to etcd`},
		{[]string{"store", "compact", "--config", cfg}, 0, "compacted " + dir},
		{[]string{"audit", "verify", "--data-dir", dir}, 0, "5 records, hash chain verified"},
	} {
		code, out, errb := cli(c.args...)
		if code != c.code || !strings.Contains(out+errb, c.want) {
			t.Errorf("smartcloudops %v = %d\nstdout: %s\nstderr: %s\nwant exit %d and %q", c.args, code, out, errb, c.code, c.want)
		}
	}
}
