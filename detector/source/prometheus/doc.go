// Package prometheus is the Prometheus HTTP API source of SmartCloudOps: it runs PromQL instant
// and range queries against a Prometheus server and turns the results into detector series.
//
// It sits at the very start of the flow (sources → detector → incidents → rules → remediation →
// notifier/bot adapters): the detector's scheduler calls Client.Range or Client.Instant on each
// tick and feeds the points to its streaming models; the chat `query` command uses the same
// client. Every result series, whether it came from a vector, a matrix or a scalar, becomes one
// Series that carries all of its labels (including __name__ when Prometheus returns it).
//
// Answers are decoded as they stream in, straight into series, without holding the body or
// building client_golang's model.Value, and with the same results as client_golang's API client.
//
// Errors name the query and the server's error type ("bad_data", "execution", "timeout", ...)
// through *QueryError, so callers can tell a user's bad PromQL from an unreachable server, which
// is an *obs.UnavailableError inside. Warnings are logged; native histogram samples are not
// float series and are skipped (and counted in a debug log); NaN and infinite values are passed
// on for the detector to drop.
//
// The client is safe for concurrent use.
package prometheus
