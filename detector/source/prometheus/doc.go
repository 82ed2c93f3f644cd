// Package prometheus is the Prometheus HTTP API source of SmartCloudOps: it runs PromQL instant
// and range queries against a Prometheus server and turns the results into detector series.
//
// It sits at the very start of the flow (sources → detector → incidents → rules → remediation →
// notifier/bot adapters). Each Prometheus check has a Source, which the detector's scheduler
// calls on every tick; the rules, backtests and the chat `query` command call Client.Instant and
// Client.Range. Every result series, whether it came from a vector, a matrix or a scalar,
// becomes one Series that carries all of its labels (including __name__ when Prometheus
// returns it).
//
// A Source reads only what is new since its last tick: one instant query per tick on time, and
// after a gap (ticks skipped while an earlier one ran, queries that failed) one range query for
// the missed points at the check's interval, never a point twice. Answers are decoded as they
// stream in, straight into series, without holding the body or building client_golang's
// model.Value; a Source also keeps each series' label map from one tick to the next, so a
// steady tick allocates little more than its points. The maps a Source returns are shared
// between ticks and must not be modified.
//
// A Client bounds the queries it has in flight (Options.MaxConcurrentQueries): checks on one
// schedule take turns instead of hitting Prometheus all at once, and a query's wait for a slot
// counts against its timeout.
//
// Errors name the query and the server's error type ("bad_data", "execution", "timeout", ...)
// through *QueryError, so callers can tell a user's bad PromQL from an unreachable server, which
// is an *obs.UnavailableError inside. Warnings are logged; native histogram samples are not
// float series and are skipped (and counted in a debug log); NaN and infinite values are passed
// on for the detector to drop.
//
// The client and its sources are safe for concurrent use.
package prometheus
