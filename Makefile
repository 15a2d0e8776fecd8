# The two commands of the quick start are `make demo` and `make test`; see README.md.
SHELL := /bin/bash
export GOTOOLCHAIN := local
export GOFLAGS := -buildvcs=false

MODULES  := pkg policies services/ingest services/scorer services/api cmd/aspm deploy
DATA_DIR ?= .data/demo
LISTEN   ?= 127.0.0.1:8080

.PHONY: demo test build images vet fmt tidy policy-test docs-check bench fuzz clickhouse-start clickhouse-stop clean

## demo: run the whole pipeline in one process with signed demo artifacts (Ctrl-C to stop)
demo:
	@echo "Building aspm (the first build on a fresh machine compiles all dependencies: a few minutes)"
	go build -o bin/aspm ./cmd/aspm
	bin/aspm up --demo --data-dir $(DATA_DIR) --listen $(LISTEN)

## test: install and start what the tests need, then vet and test every module and the policies
test:
	scripts/test.sh

## build: build the CLI and the three service binaries into bin/
build:
	go build -o bin/aspm ./cmd/aspm
	go build -o bin/aspm-ingest ./services/ingest/cmd/aspm-ingest
	go build -o bin/aspm-scorer ./services/scorer/cmd/aspm-scorer
	go build -o bin/aspm-api ./services/api/cmd/aspm-api

## images: build one image per binary (aspm-ingest, aspm-scorer, aspm-api and aspm, the CLI and compose's
## seeder) from the Dockerfile, tagged IMAGE_TAG; needs a running Docker engine and says so when there is none
IMAGE_SERVICES := ingest scorer api aspm
IMAGE_TAG      ?= dev
images:
	@command -v docker >/dev/null 2>&1 || { echo "make images: docker is not installed here, so no images were built (run it where a Docker engine is)"; exit 1; }
	@docker info >/dev/null 2>&1 || { echo "make images: no Docker engine answers (docker info failed), so no images were built"; exit 1; }
	@set -e; rev=$$(git rev-parse HEAD 2>/dev/null || echo unknown); created=$$(date -u +%Y-%m-%dT%H:%M:%SZ); \
	for s in $(IMAGE_SERVICES); do \
		name=aspm-$$s; [ $$s = aspm ] && name=aspm; \
		echo "== $$name:$(IMAGE_TAG)"; \
		DOCKER_BUILDKIT=1 docker build --build-arg SERVICE=$$s --build-arg VERSION=$(IMAGE_TAG) \
			--build-arg REVISION=$$rev --build-arg CREATED=$$created -t $$name:$(IMAGE_TAG) .; \
	done

vet:
	@for m in $(MODULES); do (cd $$m && go vet ./...) || exit 1; done

fmt:
	gofmt -w $(MODULES)

tidy:
	@for m in $(MODULES); do (cd $$m && GOWORK=off GOFLAGS=-mod=mod go mod tidy) || exit 1; done

## bench: the performance benchmarks (verification against sigstore-go's own Verify, parsing, policy), and,
## when ClickHouse answers, the API endpoints on 1M score rows and 10M components (the first run loads them
## into database aspm_bench: several minutes; later runs reuse it)
bench:
	cd pkg && go test -run XXX -bench . -benchmem ./verify/ ./sbom/ ./policy/
	@if scripts/clickhouse.sh status >/dev/null 2>&1; then \
		cd services/api && ASPM_BENCH_CLICKHOUSE=1 ASPM_CLICKHOUSE_ADDR=$${ASPM_CLICKHOUSE_ADDR:-127.0.0.1:19000} \
			go test -run XXX -bench BenchmarkEndpointsClickHouse -benchtime 20x -timeout 60m .; \
	else echo "ClickHouse is not running (make clickhouse-start): skipping BenchmarkEndpointsClickHouse"; fi

FUZZTIME ?= 60s
## fuzz: run every fuzz target (each func FuzzXxx in the go.work modules) for FUZZTIME each;
## make test runs each for 2000 executions, and their seed corpora in every go test
fuzz:
	scripts/fuzz.sh $(FUZZTIME) -test.fuzzminimizetime 5s

policy-test:
	go run ./cmd/aspm policy test policies/

## docs-check: check every command in README.md and docs/ against the binaries, the Makefile, the OpenAPI
## document and the deployment files, run the policy walkthrough, and check the tables copied from the
## policies and pkg/report (deploy/docs_test.go; make test runs it with the deploy module's tests)
docs-check:
	cd deploy && go test -count=1 -run '^TestDocs' .

clickhouse-start:
	scripts/clickhouse.sh start

clickhouse-stop:
	scripts/clickhouse.sh stop

clean:
	rm -rf bin .data
