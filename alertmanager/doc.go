// Package alertmanager is SmartCloudOps' edge towards Prometheus Alertmanager, in both
// directions.
//
// Inbound, it owns the webhook intake: the version 4 webhook payload model, Parse (strict
// validation that names what is wrong and where) and Handler, the HTTP handler that Alertmanager
// posts to. A parsed Message is handed to a Deliver function that the wiring package connects to
// the incident store, so in the flow (sources → detector → incidents → rules → remediation →
// notifier/bot adapters) this package is a source that feeds incidents directly: Alertmanager
// alerts are incidents too. Deduplication belongs to the incident store; Message.Key and
// Message.AlertKey give it stable keys.
//
// Outbound, Client talks to Alertmanager's API v2 to create, list and expire silences and to
// read alerts with their suppression state, which the chat `silence` command and the Silence
// button use. ParseMatchers reads the matcher syntax people type in chat.
//
// Nothing here keeps state between requests; Handler and Client are safe for concurrent use.
package alertmanager
