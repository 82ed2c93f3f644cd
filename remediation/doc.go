// Package remediation owns the last stage of the flow before chat: proposals and their state
// machine, approval policies, and the executor that runs an approved plan exactly once.
//
// A firing rule (or a person's `run` command) asks for a Proposal: the exact action, parameters
// and target, described by the action itself, with the rule and its version. The proposal is
// stored and audited before anyone sees it. Approvals are checked against the rule's policy (who
// may approve, how many distinct people, whether the requester may, before expiry) and bound to
// the plan's hash. Every transition is a compare-and-set on the store, so a double click, a
// redelivered event or two approvers at the same instant still run the action once. A proposal
// whose action may or may not have acted is unknown and is never re-run: it was running when the
// process died, the executor's timeout cut it off, or the action got no clear answer
// (ErrOutcomeUnknown). An action that can look for its own effect (Settler) settles it; a person
// resolves the rest (Resolve). Outcomes are written on a context of their own, so an action cut
// off by the timeout is still recorded. A plan the action cannot describe makes no proposal: the
// refusal (RefusedError) is audited and its reason is safe to show.
//
// Actions implement the Action interface and live in remediation/actions; the audit log is in
// remediation/audit. The package never imports the chat or command packages: it reports changes
// through Options.OnChange.
package remediation
