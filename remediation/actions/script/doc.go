// Package script owns the "script" remediation action: it runs one program from an operator's
// allow-list with arguments given as a list, never through a shell.
//
// It sits at the end of the flow (sources → detector → incidents → rules → remediation →
// notifier/bot adapters): the remediation executor calls Execute only after a proposal was
// approved, and Describe when the proposal card or a dry run needs to show what would run.
//
// Safety rules, all enforced on every call rather than once at start-up, so a file swapped on disk
// after start cannot widen the allow-list:
//
//   - The "script" parameter names a file inside Options.Dir or an entry of Options.Allow. Names
//     with a ".." element, absolute paths outside Dir, and symbolic links that resolve outside Dir
//     are refused with ErrNotAllowed. The resolved real path is what runs.
//   - The environment is scrubbed: the child sees only Options.Env (plus a default PATH when Env
//     sets none), never the variables of the smartcloudops process, which hold chat and cloud
//     credentials.
//   - The child runs in its own process group. On timeout, or when the context ends, the whole
//     group is killed with SIGKILL, so background children die too. When the script exits
//     normally, whatever it left running in its group is killed as well: a remediation step must
//     finish its work before it exits.
//   - Standard output and standard error are captured interleaved, up to Options.OutputCap bytes,
//     after which "[truncated]" is appended and the rest is discarded (the child keeps running and
//     never sees a broken pipe).
//
// Caveat: a program that moves itself into a new session (setsid) escapes the group kill; its
// output pipes are abandoned after a short grace period so Execute still returns.
package script
