// Package detector owns the second stage of the flow: series of points come in from a source
// (Prometheus, this machine's /proc, a CSV replay), each series is scored point by point by a
// streaming Model, and points whose score reaches a check's threshold become Anomaly values that
// the wiring hands to the incident stage.
//
// A Model sees one point at a time and scores it only from the points before it, so the same code
// path serves live checks, CSV replays and the benchmark. Models keep a small state per series that
// can be saved and restored, so a restart resumes without a warm-up.
//
// The package never imports the chat, command or remediation packages; it reports through the
// OnAnomaly function of its Options.
package detector
