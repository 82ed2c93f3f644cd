package app

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"sort"
	"time"

	"github.com/smartcloudops/smartcloudops/bot/discord"
	"github.com/smartcloudops/smartcloudops/bot/slack"
	"github.com/smartcloudops/smartcloudops/remediation"
	"github.com/smartcloudops/smartcloudops/remediation/actions/script"
	"github.com/smartcloudops/smartcloudops/remediation/actions/webhook"
)

// buildActions registers the actions the configuration enables.
func (b *Bot) buildActions(ctx context.Context) error {
	b.actions = map[string]remediation.Action{}
	add := func(a remediation.Action) { b.actions[a.Name()] = a }
	ac := b.cfg.Actions
	// AWS first: ssm: secret references below resolve through it.
	if err := b.buildAWSActions(ctx, add); err != nil {
		return err
	}
	if ac.Script.Dir != "" {
		s, err := script.New(script.Options{Dir: ac.Script.Dir, Timeout: ac.Script.Timeout.D(), Logger: b.log})
		if err != nil {
			return fmt.Errorf("actions.script: %w", err)
		}
		add(s)
	}
	secret, err := b.secretAt(ctx, pathWebhookSecret, ac.Webhook.Secret)
	if err != nil {
		return err
	}
	w, err := b.webhookAction(secret)
	if err != nil {
		return err
	}
	add(w)
	return nil
}

// webhookAction builds the webhook action, signing with secret.
func (b *Bot) webhookAction(secret string) (remediation.Action, error) {
	ac := b.cfg.Actions
	w, err := webhook.New(webhook.Options{Secret: []byte(secret), Timeout: ac.Webhook.Timeout.D(), AllowedHosts: ac.Webhook.AllowedHosts,
		AllowPrivateNetworks: ac.Webhook.AllowPrivateNetworks, Logger: b.log})
	if err != nil {
		return nil, fmt.Errorf("actions.webhook: %w", err)
	}
	return w, nil
}

// action returns the action registered under name, reporting without secrets. Reload may
// replace one (the webhook action with a rotated signing secret) while proposals run.
func (b *Bot) action(name string) (remediation.Action, bool) {
	b.actionsMu.RLock()
	defer b.actionsMu.RUnlock()
	a, ok := b.actions[name]
	if !ok {
		return nil, false
	}
	return redactingAction{Action: a, b: b}, true
}

func (b *Bot) setAction(a remediation.Action) {
	b.actionsMu.Lock()
	defer b.actionsMu.Unlock()
	b.actions[a.Name()] = a
}

func (b *Bot) actionNames() []string {
	b.actionsMu.RLock()
	defer b.actionsMu.RUnlock()
	out := make([]string, 0, len(b.actions))
	for n := range b.actions {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Paths of the secrets a reload applies while the bot runs.
const (
	pathWebhookSecret = "actions.webhook.secret"
	pathWebhookToken  = "alertmanager.webhook_token"
	pathSlackBot      = "slack.bot_token"
	pathSlackApp      = "slack.app_token"
	pathDiscordToken  = "discord.token"
)

// buildChatAdapters connects Slack and Discord when enabled. Every adapter, the console's
// too, is then wrapped so that what the notifier posts is shown without secrets.
func (b *Bot) buildChatAdapters(ctx context.Context) error {
	if sc := b.cfg.Slack; sc.Enabled {
		bt, err := b.secretAt(ctx, pathSlackBot, sc.BotToken)
		if err != nil {
			return err
		}
		at, err := b.secretAt(ctx, pathSlackApp, sc.AppToken)
		if err != nil {
			return err
		}
		a, err := slack.New(slack.Options{BotToken: bt, AppToken: at, APIURL: sc.APIURL, DefaultChannel: sc.DefaultChannel,
			Logger: b.log, Registerer: b.regr})
		if err != nil {
			return fmt.Errorf("slack: %w", err)
		}
		b.slack = a
		b.adapters = append(b.adapters, a)
	}
	if dc := b.cfg.Discord; dc.Enabled {
		tok, err := b.secretAt(ctx, pathDiscordToken, dc.Token)
		if err != nil {
			return err
		}
		a, err := discord.New(discord.Options{Token: tok, ApplicationID: dc.ApplicationID, GuildID: dc.GuildID, PublicKey: dc.PublicKey,
			DefaultChannel: dc.DefaultChannel, BaseURL: dc.APIURL, Logger: b.log, Registerer: b.regr, Now: time.Now})
		if err != nil {
			return fmt.Errorf("discord: %w", err)
		}
		b.discord = a
		b.adapters = append(b.adapters, a)
	}
	for i, a := range b.adapters {
		b.adapters[i] = redactingAdapter{Adapter: a, b: b}
	}
	return nil
}

// mountChatHTTP serves the Discord interactions endpoint when a public key is configured.
func (b *Bot) mountChatHTTP(handlers map[string]http.Handler) {
	if b.discord != nil && b.cfg.Discord.PublicKey != "" {
		handlers["POST /api/v1/discord/interactions"] = b.discord.InteractionsHandler()
	}
}

// platforms names the chat platforms the bot takes commands from.
func (b *Bot) platforms() []string {
	out := make([]string, 0, len(b.adapters))
	for _, a := range b.adapters {
		out = append(out, a.Name())
	}
	return out
}

// replica names this process among several sharing one store: its host name and HTTP address.
func (b *Bot) replica() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "bot"
	}
	if b.cfg.Listen != "" {
		host += "@" + b.cfg.Listen
	}
	return host
}
