#!/usr/bin/env bash
# Runs govulncheck over every module of the workspace against the Go vulnerability database,
# offline: the database is built from the golang.org/x/vulndb module, which holds every report
# as OSV JSON (data/osv/GO-*.json) and is fetched like any module through the Go module proxy
# (vuln.go.dev itself is not reachable here, nor in CI). The vulndb module's own indexdb command
# turns that folder into the v1 database layout govulncheck reads with -db file://. Both tools
# and the database are kept under .cache/ and rebuilt only when a version below changes. Set
# ASPM_VULNDB_VERSION to another pseudo-version of golang.org/x/vulndb (or "latest") for newer
# reports. Exits non-zero when the code calls a known-vulnerable function that
# scripts/vulncheck-accepted.txt does not accept (unexpired).
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=${GOTOOLCHAIN:-local} GOFLAGS=${GOFLAGS:--buildvcs=false}

govulncheck_version=v1.9.0
vulndb_version=${ASPM_VULNDB_VERSION:-v0.0.0-20261105234957-e22db6528018}

root=$PWD
bin=$root/.cache/bin
mkdir -p "$bin"
if [ "$vulndb_version" = latest ]; then
	vulndb_version=$(GOFLAGS=-mod=mod go list -m -f '{{.Version}}' golang.org/x/vulndb@latest)
fi

# Reinstalled when the version or the Go it was built with changes: it must read the code the
# way the go command in use does.
goversion=$(go env GOVERSION)
if ! "$bin/govulncheck" -version 2>/dev/null | grep -q "govulncheck@$govulncheck_version\$" ||
	[ "$(go version "$bin/govulncheck" 2>/dev/null | awk '{print $2}')" != "$goversion" ]; then
	echo "govulncheck: installing golang.org/x/vuln/cmd/govulncheck@$govulncheck_version into .cache/bin" >&2
	GOBIN=$bin go install "golang.org/x/vuln/cmd/govulncheck@$govulncheck_version"
fi

db=$root/.cache/vulndb/$vulndb_version
if [ ! -s "$db/index/db.json" ]; then
	echo "govulncheck: building the vulnerability database from golang.org/x/vulndb@$vulndb_version" >&2
	src=$(GOFLAGS=-mod=mod go mod download -json "golang.org/x/vulndb@$vulndb_version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	if [ -z "$src" ] || [ ! -d "$src/data/osv" ]; then
		echo "govulncheck: golang.org/x/vulndb@$vulndb_version has no data/osv folder" >&2
		exit 1
	fi
	GOBIN=$root/.cache/vulndb/bin-$vulndb_version go install "golang.org/x/vulndb/cmd/indexdb@$vulndb_version"
	rm -rf "$db.tmp"
	"$root/.cache/vulndb/bin-$vulndb_version/indexdb" -vulns "$src/data/osv" -out "$db.tmp"
	mv "$db.tmp" "$db"
fi
echo "govulncheck: database golang.org/x/vulndb@$vulndb_version ($(ls "$db/ID" | grep -c '\.json$') reports), $(go env GOVERSION)"

# govulncheck does not read go.work from its root, but run in one module it loads the
# others' packages through the workspace, with the versions the workspace builds (make build).
mapfile -t modules < <(sed -n 's|^[[:space:]]*\(\./[^[:space:])]*\).*|\1|p' go.work)
first=${modules[0]}
patterns=()
for m in "${modules[@]}"; do
	patterns+=("$(realpath --relative-to="$first" "$m")/...")
done
set +e
out=$(cd "$first" && "$bin/govulncheck" -db "file://$db" "${patterns[@]}" 2>&1)
rc=$?
set -e
echo "$out"
if [ $rc -ne 0 ] && [ $rc -ne 3 ]; then
	echo "govulncheck: failed to run (exit $rc)" >&2
	exit $rc
fi
# The vulnerabilities the code calls must each be accepted, unexpired, in
# scripts/vulncheck-accepted.txt (ID, expiry date, owner, reason: one per line) — the same rule
# the project applies to gaps: a known risk is either fixed or accepted by name, with a reason and
# an end date. Anything else fails, and so does an accepted entry past its date.
accepted=scripts/vulncheck-accepted.txt
today=$(date -u +%Y-%m-%d)
mapfile -t called < <(sed -n 's/^Vulnerability #[0-9]*: \(GO-[0-9]*-[0-9]*\).*/\1/p' <<<"$out" | sort -u)
bad=0
for id in "${called[@]}"; do
	line=$(grep -E "^$id[[:space:]]" "$accepted" || true)
	if [ -z "$line" ]; then
		echo "govulncheck: $id is called and not accepted in $accepted" >&2
		bad=1
		continue
	fi
	expires=$(awk '{print $2}' <<<"$line")
	if [[ ! "$today" < "$expires" ]]; then
		echo "govulncheck: the acceptance of $id expired on $expires: fix it or renew it with a reason" >&2
		bad=1
	fi
done
if [ $bad -ne 0 ]; then
	if grep -q 'Found in: .*@go1\.' <<<"$out"; then
		echo "govulncheck: standard-library findings are fixed only by building with a Go release at least as new" >&2
		echo "as their 'Fixed in' ($goversion is in use)." >&2
	fi
	exit 1
fi
echo "govulncheck: ${#called[@]} called vulnerabilities, each accepted until its date in $accepted"
