// Package discord is SmartCloudOps' Discord adapter: it implements bot.Adapter with
// github.com/bwmarrin/discordgo. It sits at the chat end of the flow (sources → detector →
// incidents → rules → remediation → notifier/bot adapters): outbound it renders bot.Message
// cards as embeds with button rows and posts, edits and replies to them; inbound it turns the
// /ops application command and button clicks into bot.Event values for the commands layer. It
// only translates; deciding what an event means, and whether the person may do it, is not its job.
//
// # Inbound
//
// Run registers /ops (in Options.GuildID, or globally) with one subcommand per command of the
// bot's grammar, and CommandLine turns an invocation back into the line the console accepts,
// such as "rules show web-cpu-high". Buttons carry "<action>:<value>" custom IDs (CustomID,
// ParseCustomID). Every interaction is answered at once with a deferred response (type 5 for
// commands, private for help and whoami; type 6 for buttons), then the Handler runs on a
// bounded worker pool (Options.Workers, Options.QueueSize; when full the person is told the bot
// is busy). A command's deferred response is edited into the reply; a button's reply is a
// followup, private when the reply is Ephemeral, while the card itself is edited by the
// notifier through Update. A person's Groups are the IDs of their roles in the guild.
//
// Interactions arrive over the gateway or, when Discord is configured with an Interactions
// Endpoint URL, through InteractionsHandler, which checks the Ed25519 signature and a five
// minute window on the signed timestamp.
//
// # Connection
//
// discordgo's own reconnect loop is switched off, because in v0.29.0 it retries fatal close
// codes forever; Run reconnects itself, resuming the session, immediately after a loss and then
// with a doubling backoff. Close codes 4004 and 4010 to 4014 stop Run with ErrFatalClose and a
// 401 from any request stops it with ErrUnauthorized. A close code sent on a live connection is
// recognised on the reconnect that follows, which Discord refuses with the same code.
//
// # Outbound
//
// Requests go through discordgo's per-route rate-limit buckets with its unbounded 429 retry
// switched off: a 429 is retried after retry_after at most Options.MaxRetries times and only
// when retry_after is within Options.MaxRetryWait; 401 and 403 are never retried. PostThread
// posts a reply that references the parent message (message_reference) rather than opening a
// thread, so it works in every channel the bot can post in. Charts are attached as PNG files and
// shown in the embed through attachment://name.png. No message the adapter sends can mention
// anyone.
//
// Rendering lives in render.go and is covered by golden files in testdata; refresh them with
// go test ./bot/discord -run TestRender -update. bot/discord/discordfake is a loopback fake of
// Discord's gateway and REST API for tests.
package discord
