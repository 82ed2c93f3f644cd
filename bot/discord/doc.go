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
// The gateway protocol is the adapter's own (wsconn.go); discordgo serves only REST. Its latest
// release, v0.29.0, resumes on the URL it first connected to instead of READY's
// resume_gateway_url, re-identifies at once on op 9 whatever d says, and retries fatal close
// codes forever. Run asks /gateway/bot where to connect (a refused token fails there with
// ErrUnauthorized, before any websocket), identifies, heartbeats, and reconnects itself: after
// op 7, a resumable op 9 or a lost connection it resumes on resume_gateway_url, first at once
// and then with a doubling backoff; after op 9 with d false it waits a random one to five
// seconds, as Discord asks, and identifies anew. Close codes 4004 and 4010 to 4014 stop Run with
// ErrFatalClose and a 401 from any request stops it with ErrUnauthorized. SetToken swaps the
// token for a rotated one; Connected and the smartcloudops_chat_connected gauge say whether the
// gateway connection is up.
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
