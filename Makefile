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

## demo: the whole story on the simulator and SQLite, every step a job of a `remint serve` the demo
## starts: build this month's image, rebuild web under load (0 failed requests), patch the db pet
## in place with a reboot, the job history. Docker driver where an engine runs (steps 1 and 3 need
## its real hosts; the base image is built once per machine, as root); otherwise step 2 alone on
## the loopback driver, saying what it skipped. Exits non-zero if anything failed.
demo: build
	scripts/demo.sh

## test: lint, then every unit and integration test (simulator over real HTTP; no Docker needed)
test: lint deps-test
	$(GO) test -count=1 -timeout 20m ./...

## lint: formatting, vet, and module hygiene
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) mod verify

## e2e: end-to-end suite through the real binary on real hosts (root, Docker, debootstrap).
## The Debian base image is built once per machine and cached; prints how long it took.
## The web console's browser test (headless Debian chromium) saves a screenshot of each
## page under bin/screenshots/.
e2e: build deps-e2e
	@start=$$(date +%s); REMINT_E2E=1 REMINT_BIN=$(CURDIR)/$(BIN) REMINT_WORKLOAD_BINARY=$(CURDIR)/$(BIN) \
	  $(GO) test -count=1 -v -timeout 40m ./internal/sim/docker/ ./e2e/; rc=$$?; \
	  REMINT_E2E=1 REMINT_BIN=$(CURDIR)/$(BIN) REMINT_SCREENSHOTS=$(CURDIR)/bin/screenshots \
	  $(GO) test -count=1 -v -timeout 10m -run '^TestConsoleInBrowser$$' ./cmd/remint/ || rc=1; \
	  echo "console screenshots: $(CURDIR)/bin/screenshots/"; \
	  echo "make e2e: $$(( $$(date +%s) - start ))s (exit $$rc)"; exit $$rc

## deps-e2e: install what make e2e needs (as root), or name it
deps-e2e:
	@scripts/deps.sh e2e

## bench: benchmarks, printed not asserted: failed requests during failover, makespan/ideal,
## next-run computation for 100,000 schedules (first, cached, naive walk; wall and CPU per core),
## the idle daemon with 10,000 run-time schedules (CPU % of a core, RSS, start time),
## cloud API calls per replaced server, and the naive replacement side by side; STACKIT's
## ListUpdates of a server with 10,000 updates (p50/p99 ms, updates/s; SQLite and PostgreSQL); the
## web console's Updates page weight (HTML+CSS+JS bytes) and time to first contentful paint in
## headless chromium; then the
## in-place benchmark on real hosts (root + Docker like make e2e; it fails, never skips,
## without them): remint's security upgrade vs unattended-upgrade by hand, and N=1/4/16
## servers at concurrency 4 (REMINT_BENCH_MAX_N=4 measures fewer servers).
bench: build deps-e2e
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 30m ./failover/ ./orchestrator/ ./orchestrator/serverupdate/
	$(GO) test -run '^$$' -bench . -benchtime 5x -timeout 10m ./orchestrator/console/
	@REMINT_E2E=1 REMINT_BENCH=1 REMINT_BIN=$(CURDIR)/$(BIN) REMINT_WORKLOAD_BINARY=$(CURDIR)/$(BIN) \
	  $(GO) test -count=1 -v -run '^TestInplaceBench$$' -timeout 30m ./e2e/ > $(CURDIR)/bin/bench-inplace.log 2>&1; rc=$$?; \
	  grep -E '^BENCH|booted and prepared' $(CURDIR)/bin/bench-inplace.log; \
	  if [ $$rc -ne 0 ]; then tail -60 $(CURDIR)/bin/bench-inplace.log; echo "in-place benchmark failed (exit $$rc; full log: bin/bench-inplace.log)"; fi; exit $$rc

## test-cloud: the adapter's contract tests against a real cloud you name:
##   REMINT_TEST_CLOUD=mycloud REMINT_TEST_IMAGE=<image id> REMINT_TEST_FLAVOR=<flavor> \
##   REMINT_TEST_NETWORK=<network> REMINT_TEST_EXTERNAL_NETWORK=<external network> make test-cloud
## It creates only resources named remint-contract-<random>-… and deletes them afterwards.
## TestContractRebuildWithCloudHealth runs a full rebuild (deploy 2 slots with floating IPs,
## replace both, move the addresses, retire the old servers) with health: {cloud: {}}, which
## needs nothing listening on the servers; `make test` runs the same test on the simulator.
test-cloud:
	@if [ -z "$$REMINT_TEST_CLOUD" ]; then echo "set REMINT_TEST_CLOUD to a clouds.yaml entry, and REMINT_TEST_IMAGE, REMINT_TEST_FLAVOR, REMINT_TEST_NETWORK, REMINT_TEST_EXTERNAL_NETWORK (optional: REMINT_TEST_KEYPAIR)"; exit 2; fi
	$(GO) test -count=1 -v -timeout 60m -run Contract ./internal/openstack/

## deps-test: install the Debian packages the tests use (as root), or name them
deps-test:
	@scripts/deps.sh test

clean:
	rm -rf bin
