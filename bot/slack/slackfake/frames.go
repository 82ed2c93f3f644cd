package slackfake

import "encoding/json"

func mustJSON(v any) []byte {
	// Only maps of strings, numbers, slices and nested maps reach here, which always marshal.
	b, _ := json.Marshal(v)
	return b
}

// Hello is the first frame Slack sends on a new socket.
func Hello() []byte {
	return []byte(`{"type":"hello","num_connections":1,"connection_info":{"app_id":"A1"},` +
		`"debug_info":{"host":"slackfake","build_number":1,"approximate_connection_time":18060}}`)
}

// Disconnect is a disconnect envelope with the given reason ("warning", "refresh_requested").
func Disconnect(reason string) []byte {
	return mustJSON(map[string]any{"type": "disconnect", "reason": reason,
		"debug_info": map[string]any{"host": "slackfake"}})
}

// EventsAPI wraps an inner event in an events_api envelope.
func EventsAPI(envelopeID, eventID string, retryAttempt int, inner map[string]any) []byte {
	reason := ""
	if retryAttempt > 0 {
		reason = "timeout"
	}
	return mustJSON(map[string]any{
		"envelope_id": envelopeID, "type": "events_api", "accepts_response_payload": false,
		"retry_attempt": retryAttempt, "retry_reason": reason,
		"payload": map[string]any{
			"token": "x", "team_id": "T1", "api_app_id": "A1", "type": "event_callback",
			"event_id": eventID, "event_time": 1700000000, "event": inner,
		},
	})
}

// AppMention is an events_api envelope with an app_mention in channel by user.
func AppMention(envelopeID, eventID, user, channel, text string) []byte {
	return EventsAPI(envelopeID, eventID, 0, map[string]any{
		"type": "app_mention", "user": user, "text": text, "ts": "1700000000.000100",
		"channel": channel, "event_ts": "1700000000.000100",
	})
}

// DirectMessage is an events_api envelope with a message.im from user in channel.
func DirectMessage(envelopeID, eventID, user, channel, text string) []byte {
	return EventsAPI(envelopeID, eventID, 0, map[string]any{
		"type": "message", "channel_type": "im", "user": user, "text": text,
		"ts": "1700000000.000300", "channel": channel, "event_ts": "1700000000.000300",
	})
}

// SlashCommand is a slash_commands envelope.
func SlashCommand(envelopeID, command, text, user, userName, channel, responseURL string) []byte {
	return mustJSON(map[string]any{
		"envelope_id": envelopeID, "type": "slash_commands", "accepts_response_payload": true,
		"payload": map[string]any{
			"token": "x", "team_id": "T1", "team_domain": "ops", "channel_id": channel, "channel_name": "ops",
			"user_id": user, "user_name": userName, "command": command, "text": text, "api_app_id": "A1",
			"response_url": responseURL, "trigger_id": "1.2.x",
		},
	})
}

// BlockAction is an interactive envelope for a click on a button (actionID, value) of the
// message messageTS in channel.
func BlockAction(envelopeID, user, userName, channel, messageTS, actionID, value, responseURL string) []byte {
	return mustJSON(map[string]any{
		"envelope_id": envelopeID, "type": "interactive", "accepts_response_payload": false,
		"payload": map[string]any{
			"type": "block_actions", "api_app_id": "A1", "token": "x", "trigger_id": "1.2.x",
			"user":    map[string]any{"id": user, "username": userName, "name": userName, "team_id": "T1"},
			"team":    map[string]any{"id": "T1", "domain": "ops"},
			"channel": map[string]any{"id": channel, "name": "ops"},
			"container": map[string]any{"type": "message", "message_ts": messageTS, "channel_id": channel,
				"is_ephemeral": false},
			"message":      map[string]any{"type": "message", "ts": messageTS, "text": "card"},
			"response_url": responseURL, "state": map[string]any{"values": map[string]any{}},
			"actions": []map[string]any{{
				"type": "button", "action_id": actionID, "block_id": "b1", "value": value,
				"text": map[string]any{"type": "plain_text", "text": actionID}, "action_ts": "1700000001.000000",
			}},
		},
	})
}
