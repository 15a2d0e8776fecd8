#!/usr/bin/env bash
# The project's test command (`make test`, and all that .ci/run does). It installs and starts
# what the tests need when missing — Debian's clickhouse-server, on loopback with its data under
# .cache/, and Debian's docker-registry and chromium, which the tests start themselves — then
# checks formatting, vets and tests every module and runs the policy tests. It is idempotent and
# stops what it started. With CI=true a test that needs ClickHouse, docker-registry or chromium
# fails, never skips, when it is unavailable. Tests leave artifacts (screenshots) in .artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false

modules=(pkg policies services/ingest services/scorer services/api cmd/aspm deploy)

# Debian's docker-registry (the distribution server): installed here, never started here — the
# tests start their own instances on loopback (pkg/oci/registrytest). Its postinst enables and
# starts a system service on :5000 where an init system runs; stop and disable it, so nothing
# the tests could come to rely on is left listening.
if [ ! -x /usr/bin/docker-registry ]; then
	echo "docker-registry: installing Debian's docker-registry" >&2
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq docker-registry >/dev/null
	if [ -d /run/systemd/system ]; then
		$sudo systemctl disable --now docker-registry.service >/dev/null 2>&1 || true
	elif [ -x /etc/init.d/docker-registry ]; then
		$sudo /etc/init.d/docker-registry stop >/dev/null 2>&1 || true
	fi
fi

# Debian's chromium, for the dashboard's browser test (services/api TestDashboardInBrowser), which
# starts it headless itself; fonts-dejavu-core makes its screenshots read the same everywhere.
if ! command -v chromium >/dev/null 2>&1; then
	echo "chromium: installing Debian's chromium" >&2
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium fonts-dejavu-core >/dev/null
fi

# Tests leave what a person may want to look at (the dashboard's screenshot) in .artifacts/.
export ASPM_TEST_ARTIFACTS=${ASPM_TEST_ARTIFACTS:-$PWD/.artifacts}
mkdir -p "$ASPM_TEST_ARTIFACTS"

started_clickhouse=0
if ! scripts/clickhouse.sh status; then
	scripts/clickhouse.sh start
	started_clickhouse=1
fi
cleanup() {
	if [ "$started_clickhouse" = 1 ]; then
		scripts/clickhouse.sh stop
	fi
}
trap cleanup EXIT
export ASPM_CLICKHOUSE_ADDR=${ASPM_CLICKHOUSE_ADDR:-127.0.0.1:${ASPM_CH_TCP_PORT:-19000}}

echo "== gofmt"
unformatted=$(gofmt -l "${modules[@]}")
if [ -n "$unformatted" ]; then
	echo "not gofmt-formatted:"; echo "$unformatted"; exit 1
fi

echo "== go vet"
for m in "${modules[@]}"; do (cd "$m" && go vet ./...); done

echo "== staticcheck"
scripts/staticcheck.sh

echo "== go test"
for m in "${modules[@]}"; do
	(cd "$m" && go test -count=1 -timeout 20m ./...)
done

echo "== policy tests"
go run ./cmd/aspm policy test policies/

# Every fuzz target (found in the go.work modules) fuzzed briefly, bounded by executions rather
# than time (Go 1.26 can fail a time-bounded run spuriously, go.dev/issue/75804); `make fuzz`
# runs them longer.
echo "== fuzz"
scripts/fuzz.sh "${ASPM_FUZZTIME:-2000x}"

# Offline: the vulnerability database is built from the golang.org/x/vulndb module.
echo "== govulncheck"
scripts/vulncheck.sh

echo "== all tests passed"
