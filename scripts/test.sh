#!/usr/bin/env bash
# The project's test command (`make test`, and all that .ci/run does). It installs and starts
# what the tests need when missing — Debian's clickhouse-server, on loopback with its data under
# .cache/ — then checks formatting, vets and tests every module and runs the policy tests. It is
# idempotent and stops what it started. With CI=true a test that needs ClickHouse fails, never
# skips, when ClickHouse is unreachable.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false

modules=(pkg policies services/ingest services/scorer services/api cmd/aspm)

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

echo "== go test"
for m in "${modules[@]}"; do
	(cd "$m" && go test -count=1 -timeout 20m ./...)
done

echo "== policy tests"
go run ./cmd/aspm policy test policies/

echo "== all tests passed"
