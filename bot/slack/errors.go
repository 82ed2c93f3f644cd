package slack

import (
	"errors"

	"github.com/smartcloudops/smartcloudops/bot"
)

// Errors the adapter reports. Match them with errors.Is.
var (
	// ErrUnauthorized means Slack refused the bot or app token for good (invalid_auth,
	// account_inactive, token_revoked, not_authed). Retrying cannot help.
	ErrUnauthorized = errors.New("slack refused the token")
	// ErrNoChannel means a message had no channel and Options.DefaultChannel is empty.
	ErrNoChannel = errors.New("no channel given and no default channel configured")
	// ErrImageUpload means a card was posted but its image could not be uploaded; the Ref
	// returned alongside is valid. It is bot.ErrImageUpload.
	ErrImageUpload = bot.ErrImageUpload
	// ErrEmptyMessage means a message with nothing to show was given to Post, PostThread or
	// Update; Slack would refuse it.
	ErrEmptyMessage = errors.New("message is empty")
	// ErrAlreadyRunning means Run was called while another Run of the same Adapter is active.
	ErrAlreadyRunning = errors.New("adapter is already running")
)

// authErrors are the Web API error codes that mean a token will never work.
var authErrors = map[string]bool{
	"invalid_auth":     true,
	"account_inactive": true,
	"token_revoked":    true,
	"not_authed":       true,
}
