// Package slack is SmartCloudOps' Slack adapter: it implements bot.Adapter over Slack Socket
// Mode with github.com/slack-go/slack. It sits at the chat end of the flow (sources → detector
// → incidents → rules → remediation → notifier/bot adapters): outbound it renders bot.Message
// cards as Block Kit and posts, edits and threads them; inbound it turns app mentions, direct
// messages, the /ops slash command and button clicks into bot.Event values for the commands
// layer. It only translates; deciding what an event means is not its job.
//
// # Inbound
//
// Every Socket Mode envelope is acknowledged as soon as it is read, including envelopes
// slack-go cannot decode (their envelope_id is taken from the raw frame), so Slack never
// redelivers because of a slow action. Events then run on a bounded worker pool. Redeliveries
// are dropped by event_id with a bounded, time-limited set. A user's Groups are the IDs of the
// Slack user groups they belong to, read with usergroups.list (include_users) and cached for
// Options.GroupsTTL; when Slack cannot be asked, the last known list is used, and a user is
// given no groups rather than guessed ones.
//
// Replies to /ops go back through the command's response_url to the person who typed it only
// (ephemeral), as Slack's own commands do, except a reply with a chart, which only a channel
// message can carry; button clicks are answered privately too.
//
// Run returns an error wrapping ErrUnauthorized when Slack refuses the tokens (invalid_auth,
// account_inactive, token_revoked, not_authed), so a revoked token never causes a retry storm;
// the caller decides when to try again (the app supervises it). Every other connection problem
// is retried by slack-go with backoff. SetTokens swaps in rotated tokens; Connected and the
// smartcloudops_chat_connected gauge say whether the socket is up.
//
// # Outbound
//
// Users a card names (bot.Message.Mentions) are shown as <@U…> mentions in its mrkdwn text;
// text marked as Code goes in a code block. Messages to one channel go out at most one per
// Options.MessageInterval (Slack allows about one per second per channel); edits are paced by
// Options.UpdateInterval. An HTTP 429 is retried after its Retry-After, up to
// Options.MaxRetries times. A message with an image is
// posted first and the PNG is then uploaded into the card's thread with files upload v2.
//
// Rendering lives in render.go and is covered by golden files in testdata; refresh them with
// go test ./bot/slack -run TestRender -update. The loopback fake in bot/slack/slackfake speaks
// Socket Mode and the Web API for tests.
package slack
