# Tally — the two commands a new user needs are `make run` and `make test`.
GO          ?= go
BIN         ?= bin/tally
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
# Development-only admin key for local mode; set your own for anything else.
TALLY_ADMIN_KEY ?= dev-admin-key
# tally version prints this (git describe); without git, the Go build info's.
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null)

.PHONY: all build run test bench lint lint-openapi fmt postgres chromium clean fuzz soak

all: build

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/tally

## run: start Tally in local mode on :8080 (its own PostgreSQL in ./.tally).
run: postgres build
	@echo "Tally on http://localhost:8080 — finance console: http://localhost:8080/console (sign in with the admin key, $(TALLY_ADMIN_KEY))"
	TALLY_ADMIN_KEY=$(TALLY_ADMIN_KEY) ./$(BIN) serve

## test: the whole suite, race detector on, against real PostgreSQL.
test: postgres chromium
	$(GO) test -race -count=1 ./...

## bench: tally bench against a durable local server with pgbench side by
## side (a few minutes; see docs/benchmarks.md), then the Go micro-benchmarks.
BENCH_FLAGS ?= -sweep 1,4,16,64 -duration 8s -out bin/bench.svg -json bin/bench.json
bench: postgres build
	./$(BIN) bench $(BENCH_FLAGS)
	$(GO) test -run '^$$' -bench . -benchtime 2s ./ledger/... ./httpapi/... ./gateways/...

## fuzz: run every fuzz target (each func Fuzz… in a _test.go) for FUZZTIME;
## a failing input is saved under the package's testdata/fuzz/ and fails the run.
FUZZTIME ?= 20s
fuzz:
	@set -e; for file in $$(grep -rl --include='*_test.go' '^func Fuzz' .); do \
	  for name in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$file); do \
	    echo "== $$name ($$(dirname $$file), $(FUZZTIME))"; \
	    $(GO) test -run '^$$' -fuzz "^$$name$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 10s ./$$(dirname $$file); \
	  done; \
	done

## soak: SOAKTIME (default 5m) of mixed load against the real binary, sampling
## memory, threads, descriptors and database connections; fails if they grow.
SOAKTIME ?= 5m
soak: postgres
	TALLY_SOAK=$(SOAKTIME) $(GO) test -run '^TestSoak$$' -count=1 -timeout 60m -v ./cmd/tally

## lint: go vet, gofmt, staticcheck and the OpenAPI document's lint.
lint: lint-openapi
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) run $(STATICCHECK) ./...

## lint-openapi: Redocly CLI's recommended rules, warnings as errors
## (redocly.yaml; reasoned exceptions in .redocly.lint-ignore.yaml), run from
## the npm registry with npx. Skipped, saying so, where npm is not installed.
REDOCLY ?= @redocly/cli@2.77.0
lint-openapi:
	@if ! command -v npx >/dev/null 2>&1; then \
	  echo "lint-openapi: SKIPPED: npm (npx) is not installed, so httpapi/openapi.json was not linted; install Node.js to run Redocly CLI"; \
	  exit 0; \
	fi; \
	npx --yes $(REDOCLY) lint httpapi/openapi.json

fmt:
	gofmt -w $$(git ls-files '*.go')

## postgres: make sure PostgreSQL server binaries exist (local mode and tests
## start their own server from them; no server needs to be running).
postgres:
	@if [ -n "$$TALLY_TEST_DATABASE_URL$$TALLY_DATABASE_URL" ] || command -v initdb >/dev/null 2>&1 || \
	    ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || ls /usr/local/pgsql/bin/initdb >/dev/null 2>&1; then \
	  exit 0; \
	fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "PostgreSQL server binaries not found: installing Debian's postgresql package"; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null && exit 0; \
	fi; \
	echo "PostgreSQL server binaries (initdb, postgres) were not found."; \
	echo "Install them (Debian/Ubuntu: sudo apt-get install postgresql; macOS: brew install postgresql@15),"; \
	echo "or point Tally at a running server with TALLY_DATABASE_URL (and tests with TALLY_TEST_DATABASE_URL)."; \
	exit 1

## chromium: the console's browser tests drive headless Chromium; install
## Debian's package when run as root on Debian, else the tests skip saying why.
chromium:
	@if [ -n "$$TALLY_CHROMIUM" ] || command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	    command -v google-chrome >/dev/null 2>&1 || command -v google-chrome-stable >/dev/null 2>&1; then \
	  exit 0; \
	fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "Chromium not found: installing Debian's chromium package (for the console's browser tests)"; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null && exit 0; \
	fi; \
	echo "Chromium not found: the console's browser tests will be skipped (install chromium, or set TALLY_CHROMIUM)."

## clean: remove the binary and the local-mode data, including a cluster
## kept in /var/lib/tally because PostgreSQL's user cannot enter this
## directory (./.tally is then a symlink to it). It refuses while that
## cluster's server runs: deleting a live cluster's files corrupts the next.
clean:
	@pid=$$(head -1 .tally/pgdata/postmaster.pid 2>/dev/null); \
	if [ -n "$$pid" ] && [ "$$(ps -p "$$pid" -o comm= 2>/dev/null)" = postgres ]; then \
	  echo "make clean: PostgreSQL (pid $$pid) is running on .tally; stop make run (or tally serve) first" >&2; exit 1; fi
	@if [ -L .tally ]; then target=$$(readlink .tally); case "$$target" in \
	  /var/lib/tally/*) echo "rm -rf $$target"; rm -rf "$$target";; esac; fi
	rm -rf bin .tally
