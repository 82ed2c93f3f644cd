package app

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/smartcloudops/smartcloudops/bot"
	"github.com/smartcloudops/smartcloudops/internal/obs"
	"github.com/smartcloudops/smartcloudops/remediation"
)

var errRefused = errors.New("remote refused")

// leaky is an action whose remote service quotes the credential back in its answers.
type leaky struct{}

func (leaky) Name() string                     { return "leaky" }
func (leaky) Schema() remediation.Schema       { return remediation.Schema{} }
func (leaky) Target(remediation.Params) string { return "leaky/1" }
func (leaky) Describe(context.Context, remediation.Params) (string, error) {
	return "POST with key s3cr3t-token", nil
}
func (leaky) Execute(context.Context, remediation.Params) (remediation.Result, error) {
	return remediation.Result{Summary: "sent", Output: "echo: Authorization: Bearer s3cr3t-token"},
		fmt.Errorf("webhook answered 401 {\"detail\":\"bad key s3cr3t-token\"}: %w", errRefused)
}

// TestActionReportsAndCardsAreRedacted checks that what an action reports (stored on the
// proposal, audited and shown on its card) and what a card or reply shows lose every secret
// value, while errors.Is still sees the action's error.
func TestActionReportsAndCardsAreRedacted(t *testing.T) {
	b := &Bot{log: obs.Discard()}
	b.redactLogs()
	b.redactor.Add("s3cr3t-token")
	b.actions = map[string]remediation.Action{"leaky": leaky{}}
	a, ok := b.action("leaky")
	if !ok {
		t.Fatal("action not found")
	}
	desc, _ := a.Describe(context.Background(), nil)
	res, err := a.Execute(context.Background(), nil)
	for what, s := range map[string]string{"description": desc, "output": res.Output, "error": err.Error()} {
		if strings.Contains(s, "s3cr3t-token") || !strings.Contains(s, obs.Redacted) {
			t.Errorf("%s = %q, want the key redacted", what, s)
		}
	}
	if !errors.Is(err, errRefused) {
		t.Errorf("errors.Is lost the action's error: %v", err)
	}
	m := b.redactMessage(bot.Message{Title: "t s3cr3t-token", Text: "x s3cr3t-token", Footer: "s3cr3t-token",
		Fields:   []bot.Field{{Label: "error", Value: "key s3cr3t-token"}},
		Sections: []bot.Section{{Text: "s3cr3t-token", Fields: []bot.Field{{Label: "output", Value: "s3cr3t-token"}}}},
		Image:    &bot.Image{Alt: "s3cr3t-token"}})
	if s := fmt.Sprintf("%+v %+v", m, *m.Image); strings.Contains(s, "s3cr3t-token") {
		t.Errorf("card shows the key: %s", s)
	}
}
