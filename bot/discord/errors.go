package discord

import "errors"

// Errors the adapter reports. Match them with errors.Is.
var (
	// ErrUnauthorized means Discord refused the bot token (HTTP 401). Retrying cannot help,
	// so Run stops with it and no request is repeated.
	ErrUnauthorized = errors.New("discord refused the bot token (HTTP 401)")
	// ErrForbidden means Discord answered HTTP 403: the bot lacks a permission in that channel
	// or guild. The request is not repeated.
	ErrForbidden = errors.New("discord denied the request (HTTP 403)")
	// ErrRateLimited means a request was still rate limited after the bounded retries.
	ErrRateLimited = errors.New("discord rate limit persisted after retries")
	// ErrFatalClose means the gateway closed the connection with a code that forbids
	// reconnecting (4004 authentication failed, 4010 to 4014 shard, version or intents).
	ErrFatalClose = errors.New("discord gateway closed the connection for good")
	// ErrNoChannel means a message had no channel and Options.DefaultChannel is empty.
	ErrNoChannel = errors.New("no channel given and no default channel configured")
	// ErrAlreadyRunning means Run was called while another Run of the same Adapter is active.
	ErrAlreadyRunning = errors.New("adapter is already running")
	// ErrInvalidRef means a bot.Ref does not name a Discord message.
	ErrInvalidRef = errors.New("reference does not name a discord message")
)
