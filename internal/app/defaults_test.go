package app

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/smartcloudops/smartcloudops/bot"
	"github.com/smartcloudops/smartcloudops/examples"
	"github.com/smartcloudops/smartcloudops/internal/config"
	"github.com/smartcloudops/smartcloudops/internal/store"
	"github.com/smartcloudops/smartcloudops/remediation"
)

// TestConsoleUserIsAdminOnTheDefault: with the embedded default, whoever runs the bot at a
// console may approve, whatever their login; naming a console user in a role turns that off.
func TestConsoleUserIsAdminOnTheDefault(t *testing.T) {
	data, err := examples.FS.ReadFile("smartcloudops.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.LoadBytes("(embedded default)", data, nil)
	if err != nil {
		t.Fatal(err)
	}
	b := &Bot{cfg: cfg}
	for _, login := range []string{"root", "nobody", "alice"} {
		if got := b.roles(bot.User{Platform: "console", ID: login}); !slices.Contains(got, remediation.RoleAdmin) {
			t.Errorf("console:%s has roles %v on the embedded default, want admin", login, got)
		}
	}
	if got := b.roles(bot.User{Platform: "slack", ID: "U999"}); len(got) != 0 {
		t.Errorf("an unknown Slack user has roles %v", got)
	}
	cfg.Roles["admin"] = config.Role{Users: []string{"console:alice"}}
	if got := b.roles(bot.User{Platform: "console", ID: "nobody"}); len(got) != 0 {
		t.Errorf("console:nobody has roles %v although the configuration names console users", got)
	}
}

// TestDemoDoesNotWipeARunningDemo: a second demo on the same data dir is refused while the
// first holds its store, instead of deleting the files under it.
func TestDemoDoesNotWipeARunningDemo(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "demo", "smartcloudops.db")
	if err := os.MkdirAll(filepath.Dir(db), 0o750); err != nil {
		t.Fatal(err)
	}
	st, err := store.OpenBolt(db, store.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	o := Options{Config: config.Default(), Demo: true}
	o.Config.DataDir = dir
	if err := prepareData(&o); err == nil || !strings.Contains(err.Error(), "stop the other demo first") {
		t.Fatalf("second demo: %v, want it refused", err)
	}
	if _, err := os.Stat(db); err != nil {
		t.Fatalf("the running demo's store is gone: %v", err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	o = Options{Config: config.Default(), Demo: true}
	o.Config.DataDir = dir
	if err := prepareData(&o); err != nil {
		t.Fatalf("demo after the first stopped: %v", err)
	}
}
