package app

import (
	"slices"
	"testing"

	"github.com/smartcloudops/smartcloudops/bot"
	"github.com/smartcloudops/smartcloudops/examples"
	"github.com/smartcloudops/smartcloudops/internal/config"
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
