#!/usr/bin/env bash
# check-layering.sh keeps the flow's direction: the domain stages (detector, incident,
# alertmanager, rules, remediation, and every package under them) never depend on the chat side or
# the wiring (bot, commands, api, internal/app). They report through function types and small
# interfaces that internal/app connects. Both what a domain package imports directly (its tests
# included) and everything it pulls in through other packages are checked, so a forbidden import
# cannot sneak in one step removed. `make lint` runs it; it exits 1 naming each offending path.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

module=$(go list -m)
domain=(detector incident alertmanager rules remediation)
forbidden="^${module}/(bot|commands|api|internal/app)(/|$)"

patterns=()
for d in "${domain[@]}"; do
	patterns+=("./$d/...")
done

status=0
while read -r pkg; do
	# Production dependencies, transitively.
	deps=$(go list -deps -f '{{.ImportPath}}' "$pkg" | grep -E "$forbidden" || true)
	# Direct imports of the package's tests (their own dependencies are test code, not checked).
	tdeps=$(go list -f '{{join .TestImports "\n"}}{{"\n"}}{{join .XTestImports "\n"}}' "$pkg" | grep -E "$forbidden" || true)
	for dep in $deps $tdeps; do
		echo "layering: ${pkg#"$module"/} imports ${dep#"$module"/}: a domain stage must not depend on chat, the API or the wiring" >&2
		status=1
	done
done < <(go list "${patterns[@]}")
exit $status
