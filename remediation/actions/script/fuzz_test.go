package script

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzResolve checks that no script name, however crafted, resolves to a file outside the
// allowed directory.
func FuzzResolve(f *testing.F) {
	for _, seed := range []string{
		"ok.sh", "./ok.sh", "sub/inner.sh", "../outside/evil.sh", "sub/../../outside/evil.sh",
		"link_out.sh", "linkdir/evil.sh", "/etc/passwd", "//ok.sh", "ok.sh/", "sub//inner.sh",
		"..", ".", "", "ok.sh\x00", "sub/./../ok.sh", `..\outside\evil.sh`,
	} {
		f.Add(seed)
	}
	root := f.TempDir()
	dir := filepath.Join(root, "scripts")
	outside := filepath.Join(root, "outside")
	for _, p := range []string{filepath.Join(dir, "ok.sh"), filepath.Join(dir, "sub", "inner.sh"), filepath.Join(outside, "evil.sh")} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			f.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
			f.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(outside, "evil.sh"), filepath.Join(dir, "link_out.sh")); err != nil {
		f.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "linkdir")); err != nil {
		f.Fatal(err)
	}
	a, err := newAllowList(dir, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, name string) {
		got, err := a.resolve(name)
		if err != nil {
			return
		}
		if _, ok := within(a.realDir, got); !ok || strings.Contains(got, "evil") {
			t.Fatalf("resolve(%q) = %q, outside %s", name, got, a.realDir)
		}
	})
}
