// Package discordfake is a loopback fake of Discord for tests of SmartCloudOps' Discord
// adapter (bot/discord) and of end-to-end flows through it. It speaks the real protocols on
// 127.0.0.1, so the unmodified discordgo client runs against it:
//
//   - the gateway websocket: Hello, Identify → READY, Resume → RESUMED, heartbeat ACKs, and
//     test-driven dispatches (INTERACTION_CREATE), op 7, op 9 with either d, dropped connections
//     and close codes. READY's resume_gateway_url points at another path (/resume-gw/) than
//     GET /gateway does (/gw/), DialPath tells which one a connection used, and a Resume of an
//     unknown session, or one sent anywhere but the resume URL, is answered with op 9 d false;
//   - the REST routes a ChatOps bot uses: GET /gateway and /gateway/bot, interaction callbacks, original-response
//     edits and deletes, followups, channel messages and their edits, and bulk command
//     registration, with JSON and multipart (attachment) bodies.
//
// Every REST request and every gateway frame is recorded; tests wait for the one they expect
// with WaitRequest and WaitFrame. Canned answers (a 429 with Discord's body and headers, a
// 401, or an error body that quotes the request's Authorization header back through
// EchoAuthorization) are queued with Inject. REST calls to /gateway/bot, channel and
// application routes must carry "Authorization: Bot <token>", and an Identify or Resume with
// another token is closed with 4004, as Discord does; SetToken changes the token it accepts, as
// a token reset in the developer portal does.
//
// Point the adapter at it with discord.Options{BaseURL: srv.URL}; the gateway URL comes from
// the fake's /gateway answer.
package discordfake
