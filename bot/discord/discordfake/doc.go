// Package discordfake is a loopback fake of Discord for tests of SmartCloudOps' Discord
// adapter (bot/discord) and of end-to-end flows through it. It speaks the real protocols on
// 127.0.0.1, so the unmodified discordgo client runs against it:
//
//   - the gateway websocket: Hello, Identify → READY, Resume → RESUMED (or op 9 for an unknown
//     session), heartbeat ACKs, and test-driven dispatches (INTERACTION_CREATE), op 7, op 9,
//     dropped connections and close codes;
//   - the REST routes a ChatOps bot uses: GET /gateway, interaction callbacks, original-response
//     edits and deletes, followups, channel messages and their edits, and bulk command
//     registration, with JSON and multipart (attachment) bodies.
//
// Every REST request and every gateway frame is recorded; tests wait for the one they expect
// with WaitRequest and WaitFrame. Canned answers (a 429 with Discord's body and headers, a
// 401) are queued with Inject. REST calls to channel and application routes must carry
// "Authorization: Bot <Options.Token>", and an Identify or Resume with another token is closed
// with 4004, as Discord does.
//
// Point the adapter at it with discord.Options{BaseURL: srv.URL}; the gateway URL comes from
// the fake's /gateway answer.
package discordfake
