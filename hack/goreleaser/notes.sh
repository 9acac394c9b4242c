#!/usr/bin/env bash
# Prints the release notes of a version: its section of CHANGELOG.md (Keep a
# Changelog: "## [0.2.0] - 2026-12-24"), without the heading. `make release`
# hands them to GoReleaser. Fails when CHANGELOG.md has no such section, so
# that a release is never made without its notes.
#
# Usage: hack/goreleaser/notes.sh v0.2.0 [CHANGELOG.md]
set -euo pipefail
version=${1:?usage: notes.sh VERSION [CHANGELOG]}
changelog=${2:-$(dirname "$0")/../../CHANGELOG.md}
version=${version#v}
notes=$(awk -v want="## [$version]" '
	index($0, want) == 1 { found = 1; next }
	found && /^## \[/ { exit }
	found && /^\[[^]]+\]: / { exit }
	found { print }
' "$changelog")
if [[ -z ${notes//[[:space:]]/} ]]; then
	echo "notes: no section \"## [$version]\" in $changelog: add it (rename [Unreleased]) before tagging" >&2
	exit 1
fi
printf '%s\n' "$notes" | sed -e '/./,$!d'
