// Package detector owns the first stage of the flow (sources → detector → incident → rules →
// remediation → bot): series of points come in from a source (Prometheus, this machine's /proc,
// a CSV replay), each series is scored point by point by a streaming Model, and each series moves
// through anomalous episodes (Lifecycle): one opens at a score at or above the check's threshold,
// is judged against the band frozen when it opened, and ends after a few normal points. Every
// tick reports its episodes (Anomaly, Recovery) and, for checks that rules watch, every series it
// scored (Observation), which the wiring hands to the incident stage and the rules.
//
// A Model sees one point at a time and scores it only from the points before it, so the same code
// path serves live checks, CSV replays and the benchmark. Models keep a small state per series that
// can be saved and restored, so a restart resumes without a warm-up.
//
// The score is honest: it means the same whatever threshold a check uses, and the model is never
// held below a threshold; one card per episode is the lifecycle's doing, not the model's.
//
// The package never imports the chat, command or remediation packages; it reports through the
// OnTick function of its Options.
package detector
