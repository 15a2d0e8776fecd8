#!/usr/bin/env bash
# Runs staticcheck (its default checks) over every module of the workspace, installing the
# pinned version into .cache/bin when it is not there.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=${GOTOOLCHAIN:-local} GOFLAGS=${GOFLAGS:--buildvcs=false}

version=v0.8.2 # staticcheck 2026.2.2, built with and for Go 1.26
bin=$PWD/.cache/bin
# Reinstalled when the version or the Go it was built with changes.
if ! "$bin/staticcheck" -version 2>/dev/null | grep -q "(${version#v})\$" ||
	[ "$(go version "$bin/staticcheck" 2>/dev/null | awk '{print $2}')" != "$(go env GOVERSION)" ]; then
	echo "staticcheck: installing honnef.co/go/tools/cmd/staticcheck@$version into .cache/bin" >&2
	mkdir -p "$bin"
	GOBIN=$bin go install "honnef.co/go/tools/cmd/staticcheck@$version"
fi

# Run in one module, staticcheck loads the others' packages through go.work.
mapfile -t modules < <(sed -n 's|^[[:space:]]*\(\./[^[:space:])]*\).*|\1|p' go.work)
first=${modules[0]}
patterns=()
for m in "${modules[@]}"; do
	patterns+=("$(realpath --relative-to="$first" "$m")/...")
done
cd "$first" && "$bin/staticcheck" "${patterns[@]}"
