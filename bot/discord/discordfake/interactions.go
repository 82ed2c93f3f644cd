package discordfake

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"net/http"
	"strconv"
	"time"
)

// Member is the guild member behind an interaction.
type Member struct {
	ID       string
	Username string
	Nick     string
	Roles    []string // role IDs
}

// Interaction describes an interaction to build; empty GuildID and ChannelID default to
// "G1" and "C1". A zero Member means a DM from user U1.
type Interaction struct {
	ID        string
	Token     string
	GuildID   string
	ChannelID string
	Member    Member
}

// Option is one option of a slash command invocation, built with Sub, Group and String.
type Option map[string]any

// Sub is a subcommand with its options.
func Sub(name string, opts ...Option) Option {
	return Option{"name": name, "type": 1, "options": opts}
}

// Group is a subcommand group holding one subcommand.
func Group(name string, sub Option) Option {
	return Option{"name": name, "type": 2, "options": []Option{sub}}
}

// String is a string option.
func String(name, value string) Option {
	return Option{"name": name, "type": 3, "value": value}
}

func (in Interaction) base(appID string, typ int) map[string]any {
	guild, channel := in.GuildID, in.ChannelID
	if guild == "" {
		guild = "G1"
	}
	if channel == "" {
		channel = "C1"
	}
	m := map[string]any{
		"id": in.ID, "application_id": appID, "type": typ, "token": in.Token, "version": 1,
		"channel_id": channel, "app_permissions": "2048", "locale": "en-US",
	}
	if in.Member.ID == "" {
		m["user"] = map[string]any{"id": "U1", "username": "dm-user"}
		return m
	}
	roles := in.Member.Roles
	if roles == nil {
		roles = []string{}
	}
	m["guild_id"] = guild
	m["member"] = map[string]any{
		"user":        map[string]any{"id": in.Member.ID, "username": in.Member.Username},
		"nick":        in.Member.Nick,
		"roles":       roles,
		"joined_at":   "2024-01-01T00:00:00+00:00",
		"permissions": "2048",
	}
	return m
}

// Command is an INTERACTION_CREATE payload for /name with the given options.
func (s *Server) Command(in Interaction, name string, opts ...Option) map[string]any {
	m := in.base(s.opts.AppID, 2)
	if opts == nil {
		opts = []Option{}
	}
	m["data"] = map[string]any{"id": "CMD1", "name": name, "type": 1, "options": opts}
	s.rememberToken(in, m)
	return m
}

// Button is an INTERACTION_CREATE payload for a click on the button customID of message
// messageID, which carries that button.
func (s *Server) Button(in Interaction, messageID, label, customID string) map[string]any {
	m := in.base(s.opts.AppID, 3)
	m["message"] = map[string]any{
		"id": messageID, "channel_id": m["channel_id"], "content": "",
		"author": map[string]any{"id": s.opts.BotID, "username": "smartcloudops", "bot": true},
		"components": []any{map[string]any{"type": 1, "components": []any{
			map[string]any{"type": 2, "style": 1, "label": label, "custom_id": customID},
		}}},
	}
	m["data"] = map[string]any{"custom_id": customID, "component_type": 2}
	s.rememberToken(in, m)
	return m
}

// Ping is the PING Discord sends to an interactions endpoint.
func (s *Server) Ping(id string) map[string]any {
	return map[string]any{"id": id, "application_id": s.opts.AppID, "type": 1, "token": "ping-token", "version": 1}
}

func (s *Server) rememberToken(in Interaction, m map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[in.Token], _ = m["channel_id"].(string)
}

// SendInteraction dispatches an INTERACTION_CREATE with payload on the newest connection.
func (s *Server) SendInteraction(payload map[string]any) error {
	return s.Dispatch("INTERACTION_CREATE", payload)
}

// SignedRequest builds a POST to url carrying body, signed with priv the way Discord signs
// requests to an Interactions Endpoint URL, with timestamp ts.
func SignedRequest(priv ed25519.PrivateKey, url string, body []byte, ts time.Time) (*http.Request, error) {
	stamp := strconv.FormatInt(ts.Unix(), 10)
	sig := ed25519.Sign(priv, append([]byte(stamp), body...))
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Signature-Ed25519", hex.EncodeToString(sig))
	req.Header.Set("X-Signature-Timestamp", stamp)
	return req, nil
}
