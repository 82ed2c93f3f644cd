#!/usr/bin/env bash
# check-workflows.sh keeps the GitHub workflows pinned: every action is used at a full commit SHA
# with its release in a comment (`uses: owner/repo@<40 hex digits> # v1.2.3`), since a tag can be
# moved to other code, and Go is set up from GO_VERSION (the latest patch of a release) rather
# than go.mod's minimum, which would make govulncheck judge an old standard library.
# `make lint` runs it; it exits 1 naming each offending line.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

status=0
shopt -s nullglob
for f in .github/workflows/*.yml .github/workflows/*.yaml; do
	while IFS= read -r hit; do
		line=${hit%%:*}
		text=${hit#*:}
		if ! [[ $text =~ uses:\ +[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}\ +#\ +v?[0-9]+(\.[0-9]+)*$ ]]; then
			echo "workflows: $f:$line: pin the action to a full commit SHA with its release in a comment:$text" >&2
			status=1
		fi
	done < <(grep -n 'uses:' "$f" || true)
	while IFS= read -r hit; do
		echo "workflows: $f:${hit%%:*}: set up Go with go-version: \${{ env.GO_VERSION }} and check-latest, not go.mod's minimum" >&2
		status=1
	done < <(grep -n 'go-version-file:' "$f" || true)
done
exit $status
