// Package alertmanager is SmartCloudOps' edge towards Prometheus Alertmanager, in both directions,
// and the second intake of incidents beside the detector.
//
// It sits at the top level, beside detector and incident rather than under incident, because it
// plays the detector's part for alerts that Prometheus raised. The flow has two intakes feeding one
// stage:
//
//	sources → detector ─┐
//	                    ├→ incident → rules → remediation → bot
//	     alertmanager ──┘
//
// Package incident knows nothing of Alertmanager's payloads or API; the wiring hands it parsed
// alert groups. The silences client lives here too, because it speaks the same API.
//
// Inbound, it owns the webhook intake: the version 4 webhook payload model, Parse (strict
// validation that names what is wrong and where) and Handler, the HTTP handler that Alertmanager
// posts to. A parsed Message is handed to a Deliver function that the wiring package connects to
// package incident: Alertmanager alerts are incidents too. Deduplication belongs to the incident
// store; Message.Key and Message.AlertKey give it stable keys.
//
// Outbound, Client talks to Alertmanager's API v2 to create, list and expire silences and to read
// alerts with their suppression state, which the chat `silence` command and the Silence button use.
// ParseMatchers reads the matcher syntax people type in chat.
//
// Nothing here keeps state between requests; Handler and Client are safe for concurrent use.
package alertmanager
