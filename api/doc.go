// Package api owns the bot's HTTP surface, the inbound twin of package bot: where bot and commands
// take what people type and click in chat, api takes what other programs send. It sits on the
// inbound side of the flow (sources → detector → incident → rules → remediation → bot), beside
// commands, and the domain stages never import it.
//
// Server (server.go) listens and serves the routes every deployment has — /healthz, /readyz and
// /metrics — and mounts the others: the Alertmanager webhook (package alertmanager), the Discord
// interactions endpoint (package bot/discord) and the versioned JSON API of this package.
//
// The JSON API under /api/v1 is the front door for the tools that are not chat (CI pipelines,
// on-call platforms, scripts): a request is authenticated with an API key, authorised by the
// key's role, and dispatched to the same services the commands use (incidents, proposals, rules,
// the detector, the audit log), so an approval over HTTP obeys exactly the policy an approval in
// chat does and is audited the same way, with the key as the actor.
//
// API keys ("Authorization: Bearer sco_…") are kept in the store under apikeys/<name>; only the
// SHA-256 of a key is stored, beside its name, role, creation and expiry times and revocation.
// A key carries one role: viewer (read only), operator (may also propose manual runs, approve and
// reject where a proposal's policy allows operators) or admin (may do anything a policy allows).
// Keys are cached for Options.KeyRefresh, so a revocation written by another process takes effect
// within that time; one made through Keys.Revoke on the same Keys takes effect at once.
//
// Every route is wrapped in the same chain: metrics by route pattern and status code, a
// per-handler timeout, key authentication, a per-key token-bucket rate limit, a body size cap and
// a role check. Read routes get a context deadline; decisions run in their own goroutine so that
// an approval waiting for a long action is answered 503 timeout at the deadline while the action
// goes on (the remediation Manager runs it on a context of its own). Errors are JSON {"error":{"code","message","request_id"}} with the stable codes
// listed in errors.go; internal errors are logged in full and shown only as
// "internal error (ref <correlation id>)". The OpenAPI 3.0 document served at
// /api/v1/openapi.json is embedded from openapi.json and a test keeps it in step with Routes.
//
// Lists page with ?limit= and an opaque ?cursor= (page.go). Incidents and proposals are read from
// their time-ordered indexes (package internal/index), so a page costs the same however many are
// stored; the other lists are small and paged in memory.
//
// With Options.Pprof, Go's profiling endpoints are served under /debug/pprof/ (pprof.go) behind
// the same chain, for admin keys only.
package api
