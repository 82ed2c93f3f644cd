package bot

import (
	"context"
	"errors"
)

// User is the person behind an event, as the platform knows them.
type User struct {
	Platform string   // "slack", "discord", "console", "api"
	ID       string   // the platform's stable user ID
	Name     string   // a display name for replies and audit records
	Groups   []string // platform groups or roles the user belongs to (Slack user groups, Discord roles)
}

// String is how a user appears in cards and audit records: platform:name.
func (u User) String() string {
	n := u.Name
	if n == "" {
		n = u.ID
	}
	return u.Platform + ":" + n
}

// EventKind says what a person did.
type EventKind int

// Event kinds.
const (
	EventCommand EventKind = iota + 1 // a typed command: slash command, mention, DM, console line
	EventButton                       // a click on a card's button
)

// Ref identifies a message an adapter posted, so it can be edited or replied to in a thread.
type Ref struct {
	Platform string
	Channel  string
	ID       string // Slack ts, Discord message ID, console sequence number
}

// Event is one thing a person did in chat, already translated from the platform's form.
type Event struct {
	Kind    EventKind
	ID      string // the platform's event ID, used to drop redeliveries
	User    User
	Channel string
	Text    string // the command line, for EventCommand
	Button  Button // the button, for EventButton
	Message Ref    // the card the button sits on, for EventButton
}

// Handler handles one event and returns the reply to show to the person who acted (an empty
// Message for none). Adapters acknowledge the platform first and call the Handler afterwards,
// so a slow action never misses a platform deadline.
type Handler func(ctx context.Context, e Event) Message

// ErrImageUpload means a message was posted but its image could not be attached; the Ref
// returned with it is valid and the message can be edited later.
var ErrImageUpload = errors.New("image upload failed")

// Adapter connects the bot to one chat platform. Run delivers events to h until ctx ends or the
// platform refuses the bot for good (for example a revoked token), which it reports as an error.
// Post, Update and PostThread may be called from any goroutine, also before Run starts. When
// Post delivers the message but not its image, it returns the message's Ref with an error
// wrapping ErrImageUpload.
type Adapter interface {
	Name() string
	Run(ctx context.Context, h Handler) error
	Post(ctx context.Context, channel string, m Message) (Ref, error)
	Update(ctx context.Context, ref Ref, m Message) error
	PostThread(ctx context.Context, parent Ref, m Message) (Ref, error)
}
