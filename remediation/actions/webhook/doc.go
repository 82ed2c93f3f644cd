// Package webhook owns the "webhook" remediation action: one HTTP request to an operator's
// endpoint, signed, retried safely, and bounded in time.
//
// It sits at the end of the flow (sources → detector → incidents → rules → remediation →
// notifier/bot adapters): the remediation executor calls Execute only after a proposal was
// approved, and Describe for the proposal card and dry runs.
//
// Signing: when Options.Secret is set, every attempt carries
//
//	X-SmartCloudOps-Timestamp: <unix seconds>
//	X-SmartCloudOps-Signature: sha256=<hex HMAC-SHA256(secret, signed string)>
//
// where the signed string is the timestamp, a full stop, and the raw request body, byte for byte:
//
//	<timestamp> "." <body>
//
// Binding the timestamp lets a receiver refuse replays older than a few minutes. Receivers written
// in Go can call Verify.
//
// Delivery: the request is retried with exponential backoff on connection errors and 5xx
// responses, never on 4xx, 3xx (redirects are not followed, so an allow-list cannot be bypassed
// through one) or 2xx. Every attempt carries the same Idempotency-Key header, taken from the
// "idempotency_key" parameter that the executor sets to the proposal ID, so a receiver that saw a
// request whose response got lost can recognise the retry.
package webhook
