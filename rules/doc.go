// Package rules owns remediation rules: the YAML rule files users keep in git, their
// compilation into expr programs, and their evaluation state.
//
// It sits between incidents and remediation in the flow
// (sources → detector → incidents → rules → remediation → notifier/bot adapters):
// query rules read series through a QueryFunc on their group's interval, check rules see every
// tick of the detector check they watch through Engine.EvalCheck (each series with its incident:
// open or not, peak, frozen band; a check rule holds only while its series has an incident open),
// and alert rules see Alertmanager alerts through Engine.OnAlert. A rule whose condition has held for its `for` duration fires; a firing rule
// proposes its action through the OnFire callback, at most once per cooldown and max_runs
// window. The package never runs an action and never imports the bot or the commands: the
// wiring connects OnFire to the remediation proposals.
//
// Rule files are validated completely when they load: unknown fields, conditions that do not
// compile to a boolean against the typed environment, templates that do not parse and action
// parameters that do not match the action's schema are all refused with file:line:col. Hostile
// conditions are refused by a size cap and a node cap at load and bounded by a memory budget
// and a per-tick time budget at evaluation.
//
// Evaluation state (inactive → pending → firing → resolved, with cooldown) lives in the store
// under "rules/state/<rule>/<series fingerprint>", so a restart continues where it stopped.
// Sync loads a git checkout into the store under "rules/set/..." with its commit, and
// LoadFromStore reads it back. Window history used by avg_over and friends is kept in memory
// only and is rebuilt after a restart.
//
// The same evaluator serves live ticks, rule unit tests (RunTests) and backtests (Backtest); rule
// tests move a check's series through detector.Lifecycle and call EvalCheck exactly as the live
// wiring does, so the two cannot drift apart.
package rules
