# The two commands of the quick start are `make demo` and `make test`; see README.md.
SHELL := /bin/bash
export GOTOOLCHAIN := local
export GOFLAGS := -buildvcs=false

MODULES  := pkg policies services/ingest services/scorer services/api cmd/aspm
DATA_DIR ?= .data/demo
LISTEN   ?= 127.0.0.1:8080

.PHONY: demo test build vet fmt tidy policy-test bench fuzz clickhouse-start clickhouse-stop clean

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

vet:
	@for m in $(MODULES); do (cd $$m && go vet ./...) || exit 1; done

fmt:
	gofmt -w $(MODULES)

tidy:
	@for m in $(MODULES); do (cd $$m && GOWORK=off GOFLAGS=-mod=mod go mod tidy) || exit 1; done

## bench: the performance benchmarks (verification against sigstore-go's own Verify, parsing, policy)
bench:
	cd pkg && go test -run XXX -bench . -benchmem ./verify/ ./sbom/ ./policy/

FUZZTIME ?= 60s
## fuzz: run every fuzz target for FUZZTIME each (make test runs their seed corpora)
fuzz:
	@set -e; cd pkg; for t in \
		./event:FuzzDecode ./sbom:FuzzParse ./dsse:FuzzParse ./verify:FuzzParseBundles \
		./provenance:FuzzParseStatement ./provenance:FuzzProvenance ./provenance:FuzzPredicate; do \
		echo "== $$t"; go test -run XXX -fuzz "^$${t#*:}$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 5s "$${t%%:*}"; done

policy-test:
	go run ./cmd/aspm policy test policies/

clickhouse-start:
	scripts/clickhouse.sh start

clickhouse-stop:
	scripts/clickhouse.sh stop

clean:
	rm -rf bin .data
