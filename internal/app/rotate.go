package app

import "github.com/smartcloudops/smartcloudops/internal/config"

// changed reports whether the value resolved for path differs from the one in use.
func (b *Bot) changed(secrets map[string]string, path string) bool {
	v, ok := secrets[path]
	if !ok {
		return false
	}
	old, _ := b.secrets.Load(path)
	return old != v
}

// applySecrets puts rotated secrets into service and returns the paths it applied: the
// Alertmanager webhook token and the webhook action's signing secret at once, chat tokens by
// reconnecting that adapter.
func (b *Bot) applySecrets(secrets map[string]string) ([]string, error) {
	var applied []string
	if b.amHandler != nil && b.changed(secrets, pathWebhookToken) {
		b.amHandler.SetBearerToken(secrets[pathWebhookToken])
		b.secrets.Store(pathWebhookToken, secrets[pathWebhookToken])
		applied = append(applied, pathWebhookToken)
	}
	if b.changed(secrets, pathWebhookSecret) {
		w, err := b.webhookAction(secrets[pathWebhookSecret])
		if err != nil {
			return applied, err
		}
		b.setAction(w)
		b.secrets.Store(pathWebhookSecret, secrets[pathWebhookSecret])
		applied = append(applied, pathWebhookSecret)
	}
	if b.slack != nil && (b.changed(secrets, pathSlackBot) || b.changed(secrets, pathSlackApp)) {
		bt, at := secrets[pathSlackBot], secrets[pathSlackApp]
		if err := b.slack.SetTokens(bt, at); err != nil {
			return applied, err
		}
		b.secrets.Store(pathSlackBot, bt)
		b.secrets.Store(pathSlackApp, at)
		b.reconnect("slack")
		applied = append(applied, pathSlackBot+" and "+pathSlackApp+" (reconnecting)")
	}
	if b.discord != nil && b.changed(secrets, pathDiscordToken) {
		if err := b.discord.SetToken(secrets[pathDiscordToken]); err != nil {
			return applied, err
		}
		b.secrets.Store(pathDiscordToken, secrets[pathDiscordToken])
		b.reconnect("discord")
		applied = append(applied, pathDiscordToken+" (reconnecting)")
	}
	return applied, nil
}

// reconnect makes the named chat adapter connect again at once.
func (b *Bot) reconnect(name string) {
	for _, l := range b.links {
		if l.a.Name() == name {
			l.reconnect()
		}
	}
}

// rotatedNeedingRestart names the secrets that changed but are only read at start.
func (b *Bot) rotatedNeedingRestart(secrets map[string]string) []string {
	var out []string
	for _, path := range []string{"prometheus.bearer_token", "prometheus.basic_auth.password"} {
		if b.changed(secrets, path) {
			out = append(out, path)
		}
	}
	return out
}

// withoutAppliedSecrets blanks the secret references Reload applies, so that a reference that
// now points elsewhere is not reported as needing a restart.
func withoutAppliedSecrets(c config.Config) config.Config {
	c.Alertmanager.WebhookToken = ""
	c.Actions.Webhook.Secret = ""
	c.Slack.BotToken, c.Slack.AppToken = "", ""
	c.Discord.Token = ""
	return c
}
