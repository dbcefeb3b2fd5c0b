# remint — the two commands that matter: `make demo` and `make test`.
SHELL := /bin/bash
GO ?= go
BIN := bin/remint
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)

.PHONY: all build test lint e2e bench demo test-cloud clean deps-test deps-e2e

all: build

## build: the remint binary, statically linked (the docker driver copies it into servers)
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/remint

## test: lint, then every unit and integration test (simulator over real HTTP; no Docker needed)
test: lint deps-test
	$(GO) test -count=1 -timeout 20m ./...

## lint: formatting, vet, and module hygiene
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) mod verify

## test-cloud: the adapter's contract tests against a real cloud: REMINT_TEST_CLOUD=mycloud make test-cloud
test-cloud:
	@if [ -z "$$REMINT_TEST_CLOUD" ]; then echo "set REMINT_TEST_CLOUD to a clouds.yaml entry (and optionally REMINT_TEST_IMAGE, REMINT_TEST_FLAVOR, REMINT_TEST_NETWORK, REMINT_TEST_EXTERNAL_NETWORK)"; exit 2; fi
	$(GO) test -count=1 -v -run Contract ./internal/openstack/

## deps-test: install the Debian packages the tests use (as root), or name them
deps-test:
	@scripts/deps.sh test

clean:
	rm -rf bin
