package script

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/internal/store"
	"github.com/smartcloudops/smartcloudops/remediation"
	"github.com/smartcloudops/smartcloudops/remediation/audit"
)

// TestProposeRefusesWithReason: what a person sees for `run script script=...` with a script
// that cannot run: a user error with the reason, naming neither the directory's path nor
// "internal error", and nothing proposed.
func TestProposeRefusesWithReason(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "scripts")
	writeScript(t, dir, "ok.sh", "true")
	writeScript(t, root, "evil.sh", "true")
	if err := os.WriteFile(filepath.Join(dir, "plain.sh"), []byte("echo\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(root, "evil.sh"), filepath.Join(dir, "link.sh")); err != nil {
		t.Fatal(err)
	}
	a := newAction(t, Options{Dir: dir})
	st := store.NewMemory()
	al, _ := audit.New(audit.Options{Store: st})
	mg, err := remediation.New(remediation.Options{Store: st, Audit: al,
		Actions: func(n string) (remediation.Action, bool) { return a, n == Name }})
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]string{
		"nosuch.sh":   "no proposal: no script nosuch.sh in the scripts directory",
		"../evil.sh":  `no proposal: script ../evil.sh is not allowed: ".." leaves the scripts directory`,
		"/etc/passwd": "no proposal: script /etc/passwd is not allowed: it is outside the scripts directory",
		"link.sh":     "no proposal: script link.sh is not allowed: it links outside the scripts directory",
		"plain.sh":    "no proposal: script plain.sh is not executable (chmod +x)",
	}
	for name, want := range tests {
		_, err := mg.Propose(context.Background(), remediation.Request{Action: Name, Params: map[string]any{"script": name},
			Requester: remediation.Actor{ID: "console:me"}})
		if err == nil || !obs.IsUser(err) || err.Error() != want {
			t.Errorf("%q: err = %v, want the user error %q", name, err, want)
		}
	}
	if ps, _ := mg.List(context.Background()); len(ps) != 0 {
		t.Fatalf("%d proposals made", len(ps))
	}
	if _, err := mg.Propose(context.Background(), remediation.Request{Action: Name, Params: map[string]any{"script": "ok.sh"},
		Requester: remediation.Actor{ID: "console:me"}}); err != nil {
		t.Fatalf("allowed script: %v", err)
	}
}
