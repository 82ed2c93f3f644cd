package discord

import (
	"fmt"
	"strings"

	"github.com/smartcloudops/smartcloudops/bot"
)

// maxCustomID is Discord's limit on a component's custom_id.
const maxCustomID = 100

// CustomID encodes a button as a component custom_id, "<action>:<value>", for example
// "approve:p-7f3a". The value must be an ID made of letters, digits, '-', '_' and '.'.
func CustomID(b bot.Button) (string, error) {
	if !knownAction(b.Action) {
		return "", fmt.Errorf("button %q: unknown action %q", b.Label, b.Action)
	}
	if err := checkButtonValue(b.Value); err != nil {
		return "", fmt.Errorf("button %q: %w", b.Label, err)
	}
	id := b.Action + ":" + b.Value
	if len(id) > maxCustomID {
		return "", fmt.Errorf("button %q: custom_id is %d bytes, Discord allows %d", b.Label, len(id), maxCustomID)
	}
	return id, nil
}

// ParseCustomID decodes a custom_id written by CustomID back into the button's Action and
// Value. It accepts only the known actions and the ID alphabet, so a forged click cannot smuggle
// extra words into the command the button stands for.
func ParseCustomID(id string) (bot.Button, error) {
	if len(id) > maxCustomID {
		return bot.Button{}, fmt.Errorf("custom_id: %d bytes, at most %d allowed", len(id), maxCustomID)
	}
	action, value, ok := strings.Cut(id, ":")
	if !ok {
		return bot.Button{}, fmt.Errorf("custom_id %q: want <action>:<value>", id)
	}
	if !knownAction(action) {
		return bot.Button{}, fmt.Errorf("custom_id %q: unknown action %q", id, action)
	}
	if err := checkButtonValue(value); err != nil {
		return bot.Button{}, fmt.Errorf("custom_id %q: %w", id, err)
	}
	return bot.Button{Action: action, Value: value}, nil
}

func knownAction(a string) bool {
	switch a {
	case bot.ActionApprove, bot.ActionReject, bot.ActionSilence, bot.ActionApproveAll:
		return true
	}
	return false
}

func checkButtonValue(v string) error {
	if v == "" {
		return fmt.Errorf("empty value")
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
		default:
			return fmt.Errorf("value %q: byte %q at %d is not allowed in an ID", v, c, i)
		}
	}
	return nil
}
