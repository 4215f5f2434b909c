# mospay: `make run` serves with SQLite and the built-in MOS sandbox; `make test` is what CI runs.
GO        ?= go
BIN       := bin/mospay
VERSION   ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)
# Fuzz targets run briefly in `make test` (package:target), for a number of executions rather than
# a duration: a duration races Go's fuzzing coordinator at its deadline on a loaded machine and fails
# with "context deadline exceeded" having found nothing.
FUZZTIME  ?= 20000x
FUZZ      := money:FuzzParse mos:FuzzSignVerify mos:FuzzNotify api:FuzzCreateBody api:FuzzMerchantCreateBody

.PHONY: help build run test fmt-check vet lint tidy-check large-files alerts unit fuzz bench clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

build: ## write the binary bin/mospay
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/mospay

run: build ## serve on 127.0.0.1:8080 with SQLite and the MOS sandbox on 127.0.0.1:8081
	$(BIN) serve --sandbox

test: fmt-check tidy-check large-files alerts vet lint unit fuzz ## gofmt, go mod tidy, file sizes, alert rules, go vet and linters, all tests with -race (PostgreSQL included), brief fuzzing

fmt-check: ## files gofmt would change

	@out=$$(gofmt -l $$(git ls-files --cached --others --exclude-standard '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet: ## go vet
	$(GO) vet ./...

# The linters are pinned in go.mod's tool block, so `go tool` builds them from the module cache:
# no separate install step. staticcheck (bugs, dead code), go-errorlint (errors compared or
# asserted without errors.Is/As), unparam (parameters that are always the same or unused).
lint: ## staticcheck, go-errorlint, unparam
	$(GO) tool staticcheck ./...
	$(GO) tool go-errorlint ./...
	$(GO) tool unparam ./...

# go.mod and go.sum must be exactly what go mod tidy makes of them.
tidy-check: ## go.mod and go.sum as go mod tidy makes them
	$(GO) mod tidy -diff

# No tracked file over 1 MiB: a build output or a data dump committed by mistake fails the build.
large-files: ## no tracked file over 1 MiB
	@big=$$(git ls-files -z 2>/dev/null | xargs -0 -r stat -c '%s %n' 2>/dev/null | awk '$$1 > 1048576 {print}'); \
	if [ -n "$$big" ]; then echo "tracked files over 1 MiB (build outputs belong in bin/, data in data/):"; echo "$$big"; exit 1; fi

# The Prometheus alert rules must load: promtool ships in Debian's prometheus package.
alerts: ## promtool check rules deploy/alerts.yml
	@command -v promtool >/dev/null || { echo "promtool is missing: install Debian's prometheus package (apt-get install prometheus)"; exit 1; }
	promtool check rules deploy/alerts.yml

unit: ## every test with -race
	$(GO) test -race -count=1 -timeout 20m ./...

fuzz: ## each fuzz target for FUZZTIME
	@for t in $(FUZZ); do pkg=$${t%%:*}; fn=$${t##*:}; \
		if grep -qs "func $$fn" ./$$pkg/*_test.go; then \
			echo "fuzz $$pkg $$fn ($(FUZZTIME))"; \
			$(GO) test -run='^$$' -fuzz="^$$fn\$$" -fuzztime=$(FUZZTIME) ./$$pkg || exit 1; \
		else echo "fuzz target $$pkg.$$fn missing"; exit 1; fi; done

bench: build ## the benchmark suite; prints a table (BENCHFLAGS=-quick for a smoke run), then finance's reads at scale
	$(GO) run ./cmd/mospaybench -bin $(BIN) $(BENCHFLAGS)
	$(GO) test -v -run '^$$' -bench FinanceScale -benchtime 1x -timeout 60m ./e2e

clean: ## remove bin/
	rm -rf bin
