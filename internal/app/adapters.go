package app

import (
	"context"
	"fmt"
	"net/http"
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
	secret, err := b.secret(ctx, ac.Webhook.Secret)
	if err != nil {
		return fmt.Errorf("actions.webhook.secret: %w", err)
	}
	w, err := webhook.New(webhook.Options{Secret: []byte(secret), Timeout: ac.Webhook.Timeout.D(), AllowedHosts: ac.Webhook.AllowedHosts,
		AllowPrivateNetworks: ac.Webhook.AllowPrivateNetworks, Logger: b.log})
	if err != nil {
		return fmt.Errorf("actions.webhook: %w", err)
	}
	add(w)
	return nil
}

func (b *Bot) actionNames() []string {
	out := make([]string, 0, len(b.actions))
	for n := range b.actions {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// buildChatAdapters connects Slack and Discord when enabled.
func (b *Bot) buildChatAdapters(ctx context.Context) error {
	if sc := b.cfg.Slack; sc.Enabled {
		bt, err := b.secret(ctx, sc.BotToken)
		if err != nil {
			return fmt.Errorf("slack.bot_token: %w", err)
		}
		at, err := b.secret(ctx, sc.AppToken)
		if err != nil {
			return fmt.Errorf("slack.app_token: %w", err)
		}
		a, err := slack.New(slack.Options{BotToken: bt, AppToken: at, APIURL: sc.APIURL, DefaultChannel: sc.DefaultChannel,
			Logger: b.log, Registerer: b.regr})
		if err != nil {
			return fmt.Errorf("slack: %w", err)
		}
		b.adapters = append(b.adapters, a)
	}
	if dc := b.cfg.Discord; dc.Enabled {
		tok, err := b.secret(ctx, dc.Token)
		if err != nil {
			return fmt.Errorf("discord.token: %w", err)
		}
		a, err := discord.New(discord.Options{Token: tok, ApplicationID: dc.ApplicationID, GuildID: dc.GuildID, PublicKey: dc.PublicKey,
			DefaultChannel: dc.DefaultChannel, BaseURL: dc.APIURL, Logger: b.log, Registerer: b.regr, Now: time.Now})
		if err != nil {
			return fmt.Errorf("discord: %w", err)
		}
		b.discord = a
		b.adapters = append(b.adapters, a)
	}
	return nil
}

// mountChatHTTP serves the Discord interactions endpoint when a public key is configured.
func (b *Bot) mountChatHTTP(handlers map[string]http.Handler) {
	if b.discord != nil && b.cfg.Discord.PublicKey != "" {
		handlers["POST /api/v1/discord/interactions"] = b.discord.InteractionsHandler()
	}
}
