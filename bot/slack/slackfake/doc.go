// Package slackfake is a loopback fake of Slack for tests of SmartCloudOps' Slack adapter
// (bot/slack) and of end-to-end flows that reach chat through it.
//
// It speaks the real protocols on 127.0.0.1: the Socket Mode handshake
// (apps.connections.open, a websocket with hello, server pings, envelopes and acks) and the
// Web API methods the adapter calls (auth.test, chat.postMessage, chat.update,
// chat.postEphemeral, usergroups.list, the three steps of files upload v2, and response_url
// posts). The real slack-go client runs against it unmodified.
//
// A test starts a Server, points the adapter's APIURL at Server.APIURL, pushes envelopes built
// with the frame builders (AppMention, DirectMessage, SlashCommand, BlockAction, Disconnect)
// through Send, and asserts on the acks and Web API calls the server recorded. Failures are
// injected with FailConnect (an auth error from apps.connections.open), SetTokens (only the
// given tokens are accepted from then on; any other gets invalid_auth, as after a rotation or
// revocation) and RateLimit (HTTP 429 with Retry-After on a Web API method).
package slackfake
