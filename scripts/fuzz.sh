#!/usr/bin/env bash
# Runs every fuzz target of the workspace, each for a bounded budget: `scripts/fuzz.sh 2000x`
# (executions, as make test does) or `scripts/fuzz.sh 60s` (make fuzz). Targets are found, not
# listed: every `func FuzzXxx(f *testing.F)` in a _test.go file of a go.work module. Go fuzzes
# one target per run, so each target is a run of its package's instrumented test binary. The
# seed corpora (f.Add and testdata/fuzz/FuzzXxx/) also run in every plain `go test`. A failing
# input is written to the package's testdata/fuzz/FuzzXxx/: keep it there as a regression seed
# once fixed. Extra arguments go to the test binaries (say -test.fuzzminimizetime 5s).
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=${GOTOOLCHAIN:-local} GOFLAGS=${GOFLAGS:--buildvcs=false}

fuzztime=${1:-2000x}
shift || true

mapfile -t modules < <(sed -n 's|^[[:space:]]*\(\./[^[:space:])]*\).*|\1|p' go.work)
targets=()
for m in "${modules[@]}"; do
	while IFS=: read -r file _ line; do
		name=$(sed -E 's/^func (Fuzz[A-Za-z0-9_]*)\(.*/\1/' <<<"$line")
		targets+=("./$(dirname "${file#./}"):$name")
	done < <(grep -rHnE --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*\([a-z]+ \*testing\.F\)' "$m" | sort)
done
if [ ${#targets[@]} -eq 0 ]; then
	echo "fuzz: no fuzz targets found" >&2
	exit 1
fi

echo "fuzz: ${#targets[@]} targets, $fuzztime each"
start=$SECONDS
# One instrumented test binary per package (linking is most of the cost of a short run), run
# once per target in the package's directory, as go test runs it, with go test's corpus cache.
bindir=$(mktemp -d)
trap 'rm -rf "$bindir"' EXIT
cache=$(go env GOCACHE)/fuzz
built=""
for t in "${targets[@]}"; do
	pkg=${t%%:*} name=${t#*:}
	bin=$bindir/$(tr / _ <<<"$pkg").test
	if [[ " $built " != *" $pkg "* ]]; then
		go test -c -fuzz . -o "$bin" "$pkg"
		built="$built $pkg"
	fi
	importpath=$(go list "$pkg")
	corpus=$pkg/testdata/fuzz/$name
	before=$(ls "$corpus" 2>/dev/null || true)
	echo "== fuzz $pkg $name"
	set +e
	out=$(cd "$pkg" && "$bin" -test.run '^$' -test.fuzz "^${name}\$" -test.fuzztime "$fuzztime" \
		-test.fuzzcachedir "$cache/$importpath" "$@" 2>&1)
	rc=$?
	set -e
	grep -vE '^fuzz: elapsed: [0-9]+s, execs: [0-9]+ \([0-9]+/sec\), new interesting: [0-9]+ \(total: [0-9]+\)$' <<<"$out" || true
	if [ $rc -ne 0 ]; then
		after=$(ls "$corpus" 2>/dev/null || true)
		# Go 1.26's fuzz coordinator can fail a duration-bounded run with a bare "context
		# deadline exceeded" as the time runs out (go.dev/issue/75804, fixed in Go 1.27): no
		# input failed and none was written. Anything else is a failure.
		if [ "$before" = "$after" ] && grep -qx '    context deadline exceeded' <<<"$out" &&
			[ "$(grep -c -- '--- FAIL' <<<"$out")" = 1 ]; then
			echo "fuzz: $pkg $name: ignoring Go's fuzztime deadline race (go.dev/issue/75804): no failing input" >&2
			continue
		fi
		echo "fuzz: $pkg $name failed; a failing input go test wrote is in $corpus/" >&2
		exit 1
	fi
done
echo "fuzz: ${#targets[@]} targets passed in $((SECONDS - start))s"
