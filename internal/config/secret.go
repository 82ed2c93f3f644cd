package config

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/smartcloudops/smartcloudops/internal/obs"
)

// Secret is a reference to a secret, never the secret itself: "env:NAME" reads an environment
// variable, "file:PATH" a file (trailing newline trimmed), "ssm:/path" an AWS SSM Parameter Store
// SecureString. Its String form is the reference, which is safe to print.
type Secret string

func (s Secret) check() error {
	if s == "" {
		return nil
	}
	kind, rest, ok := strings.Cut(string(s), ":")
	switch {
	case !ok || rest == "":
		return errors.New("must be a reference: env:NAME, file:PATH or ssm:/path (never the secret itself)")
	case kind == "env" || kind == "file":
		return nil
	case kind == "ssm":
		if !strings.HasPrefix(rest, "/") {
			return errors.New("ssm references are absolute parameter names, e.g. ssm:/smartcloudops/slack-bot-token")
		}
		return nil
	}
	return errors.New("must be a reference: env:NAME, file:PATH or ssm:/path (never the secret itself; the value is not shown)")
}

// SSMFunc reads a SecureString parameter from AWS SSM Parameter Store.
type SSMFunc func(ctx context.Context, name string) (string, error)

// Resolve reads the secret the reference points to. ssm may be nil when no ssm: references are
// used. Errors name the reference, never the value.
func (s Secret) Resolve(ctx context.Context, lookupEnv func(string) (string, bool), ssm SSMFunc) (obs.Secret, error) {
	if s == "" {
		return "", nil
	}
	if err := s.check(); err != nil {
		return "", err
	}
	kind, rest, _ := strings.Cut(string(s), ":")
	switch kind {
	case "env":
		v, ok := lookupEnv(rest)
		if !ok || v == "" {
			return "", fmt.Errorf("secret %s: environment variable %s is not set", s, rest)
		}
		return obs.Secret(v), nil
	case "file":
		b, err := os.ReadFile(rest)
		if err != nil {
			return "", fmt.Errorf("secret %s: %w", s, err)
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			return "", fmt.Errorf("secret %s: file is empty", s)
		}
		return obs.Secret(v), nil
	default: // ssm
		if ssm == nil {
			return "", fmt.Errorf("secret %s: no AWS access for ssm: references; they use actions.aws.region and actions.aws.endpoint", s)
		}
		v, err := ssm(ctx, rest)
		if err != nil {
			return "", fmt.Errorf("secret %s: %w", s, err)
		}
		return obs.Secret(v), nil
	}
}

// NamedSecret is a secret reference with the field path it is set at.
type NamedSecret struct {
	Path string // such as "slack.bot_token"
	Ref  Secret
}

// SecretsInUse lists the references serve resolves when it starts: the webhook action's key,
// the tokens of the enabled chat adapters, the Prometheus credentials when prometheus.url is
// set, and the Alertmanager webhook token when listen is set. Empty references, and malformed
// ones (which Load already reports), are left out.
func (c *Config) SecretsInUse() []NamedSecret {
	var out []NamedSecret
	add := func(path string, s Secret) {
		if s != "" && s.check() == nil {
			out = append(out, NamedSecret{path, s})
		}
	}
	add("actions.webhook.secret", c.Actions.Webhook.Secret)
	if c.Slack.Enabled {
		add("slack.bot_token", c.Slack.BotToken)
		add("slack.app_token", c.Slack.AppToken)
	}
	if c.Discord.Enabled {
		add("discord.token", c.Discord.Token)
	}
	if c.Prometheus.URL != "" {
		add("prometheus.bearer_token", c.Prometheus.BearerToken)
		if c.Prometheus.BasicAuth != nil {
			add("prometheus.basic_auth.password", c.Prometheus.BasicAuth.Password)
		}
	}
	if c.Listen != "" {
		add("alertmanager.webhook_token", c.Alertmanager.WebhookToken)
	}
	return out
}
