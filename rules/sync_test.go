package rules

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smartcloudops/smartcloudops/internal/store"
)

// gitRepo makes a throwaway repository in a temp dir and returns a commit helper.
func gitRepo(t *testing.T) (string, func(files map[string]string, msg string)) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	dir := t.TempDir()
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=Ana Ops", "GIT_AUTHOR_EMAIL=ana@example.com",
			"GIT_COMMITTER_NAME=Ana Ops", "GIT_COMMITTER_EMAIL=ana@example.com",
			"GIT_AUTHOR_DATE=2026-01-02T03:04:05Z", "GIT_COMMITTER_DATE=2026-01-02T03:04:05Z",
			"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_SYSTEM=/dev/null")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	run("init", "-q", "-b", "main")
	return dir, func(files map[string]string, msg string) {
		for name, body := range files {
			p := filepath.Join(dir, name)
			if body == "" {
				_ = os.Remove(p)
				continue
			}
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		run("add", "-A")
		run("commit", "-q", "-m", msg)
	}
}

const syncA = `groups:
  - name: g
    rules:
      - name: keep
        query: up
        when: value > 1
        action: {name: script, params: {script: a.sh}}
      - name: change
        query: up
        when: value > 1
        for: 1m
        action: {name: script, params: {script: a.sh}}
      - name: drop
        query: up
        action: {name: script, params: {script: a.sh}}
`

func TestSync(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	dir, commit := gitRepo(t)
	commit(map[string]string{"rules/a.yaml": syncA, "rules/a_test.yaml": "not: rules", "README.md": "x"}, "first")
	opts := SyncOptions{Load: LoadOptions{Actions: testActions}}

	rep, err := Sync(ctx, st, dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Added) != 3 || rep.Previous != "" || rep.Info.Author != "Ana Ops <ana@example.com>" || len(rep.Info.Commit) != 40 {
		t.Fatalf("first report = %+v", rep)
	}
	first := rep.Info.Commit

	next := strings.Replace(syncA, "for: 1m", "for: 5m", 1)
	next = next[:strings.Index(next, "      - name: drop")] + `      - name: add
        check: demo
        action: {name: script, params: {script: b.sh}}
`
	commit(map[string]string{"rules/a.yaml": next}, "second")
	rep, err = Sync(ctx, st, dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Previous != first || strings.Join(rep.Added, ",") != "add" || strings.Join(rep.Changed, ",") != "change" || strings.Join(rep.Removed, ",") != "drop" {
		t.Fatalf("second report = %+v", rep)
	}
	d := rep.Diffs["change"]
	if !strings.Contains(d, "-for: 1m") || !strings.Contains(d, "+for: 5m") || !strings.Contains(d, "@@ ") {
		t.Errorf("diff = %s", d)
	}
	if s := rep.String(); !strings.Contains(s, "changed change@") || !strings.Contains(s, "removed drop") {
		t.Errorf("report text = %s", s)
	}

	set, info, err := LoadFromStore(ctx, st, LoadOptions{Actions: testActions})
	if err != nil {
		t.Fatal(err)
	}
	if info.Commit != rep.Info.Commit || set.Len() != 3 {
		t.Fatalf("loaded %d rules at %s", set.Len(), info.Commit)
	}
	if r, _ := set.Rule("change"); r.Version != info.Versions["change"] || r.File != "rules/a.yaml" {
		t.Errorf("stored version %q, rule %+v", info.Versions["change"], r)
	}

	// An invalid commit loads nothing: the store keeps the previous set.
	commit(map[string]string{"rules/b.yaml": "groups:\n  - name: h\n    rules:\n      - name: bad\n        query: up\n        when: nope > 1\n        action: {name: script, params: {script: a.sh}}\n"}, "third")
	if _, err := Sync(ctx, st, dir, opts); err == nil || !strings.Contains(err.Error(), "rules/b.yaml:6:15") {
		t.Fatalf("invalid sync error = %v", err)
	}
	_, info2, _ := LoadFromStore(ctx, st, LoadOptions{Actions: testActions})
	if info2.Commit != info.Commit {
		t.Error("invalid sync replaced the stored set")
	}
}

func TestSyncErrors(t *testing.T) {
	ctx := context.Background()
	if _, _, err := LoadFromStore(ctx, store.NewMemory(), LoadOptions{}); !errors.Is(err, ErrNotSynced) {
		t.Errorf("empty store: %v", err)
	}
	if _, err := Sync(ctx, store.NewMemory(), t.TempDir(), SyncOptions{}); err == nil || !strings.Contains(err.Error(), "git") {
		t.Errorf("not a checkout: %v", err)
	}
}

func TestUnifiedDiff(t *testing.T) {
	a := "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n"
	b := "a\nb\nC\nd\ne\nf\ng\nh\ni\nj\nk\n"
	got := unifiedDiff("old", "new", a, b)
	want := "--- old\n+++ new\n@@ -1,6 +1,6 @@\n a\n b\n-c\n+C\n d\n e\n f\n@@ -8,3 +8,4 @@\n h\n i\n j\n+k\n"
	if got != want {
		t.Errorf("diff:\n%s\nwant:\n%s", got, want)
	}
	if unifiedDiff("a", "b", "x", "x") != "" {
		t.Error("equal texts diff")
	}
}

// TestSyncManyFilesWithinEtcdLimits: a checkout of 300 rule files is written in transactions
// etcd accepts and switched in one, the previous set's files are deleted, and a set written
// before generations (under rules/set/files/) still loads and is replaced.
func TestSyncManyFilesWithinEtcdLimits(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory().WithEtcdLimits()
	// A set stored the old way, with its files beside the meta key.
	oldMeta := `{"commit":"0000000000000000000000000000000000000000","files":["old.yaml"],"versions":{}}`
	if _, err := st.Txn(ctx, nil, []store.Op{{Key: syncMetaKey, Value: []byte(oldMeta)},
		{Key: syncFilesPrefix + "old.yaml", Value: []byte("groups: []\n")}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadFromStore(ctx, st, LoadOptions{Actions: testActions}); err != nil {
		t.Fatalf("a set stored before generations: %v", err)
	}
	dir, commit := gitRepo(t)
	files := map[string]string{}
	for i := range 300 {
		files[fmt.Sprintf("rules/r%03d.yaml", i)] = fmt.Sprintf("groups:\n  - name: g%03d\n    rules:\n      - name: r%03d\n        query: up\n        action: {name: script, params: {script: a.sh}}\n", i, i)
	}
	commit(files, "many")
	for range 2 {
		if _, err := Sync(ctx, st, dir, SyncOptions{Load: LoadOptions{Actions: testActions}}); err != nil {
			t.Fatal(err)
		}
	}
	set, info, err := LoadFromStore(ctx, st, LoadOptions{Actions: testActions})
	if err != nil || set.Len() != 300 {
		t.Fatalf("loaded %v rules: %v", set, err)
	}
	gens, _ := st.List(ctx, syncGenPrefix)
	old, _ := st.List(ctx, syncFilesPrefix)
	if len(gens) != 300 || len(old) != 0 || !strings.HasPrefix(gens[0].Key, info.filesPrefix()) {
		t.Fatalf("%d generation files and %d old files stored, want only the current 300", len(gens), len(old))
	}
}
