# mospay: `make run` serves with SQLite and the built-in MOS sandbox; `make test` is what CI runs.
GO        ?= go
BIN       := bin/mospay
VERSION   ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)
FUZZTIME  ?= 3s
# Fuzz targets run briefly in `make test` (package:target).
FUZZ      := money:FuzzParse mos:FuzzSignVerify mos:FuzzNotify

.PHONY: help build run test fmt-check vet unit fuzz bench clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

build: ## write the binary bin/mospay
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/mospay

run: build ## serve on 127.0.0.1:8080 with SQLite and the MOS sandbox on 127.0.0.1:8081
	$(BIN) serve --sandbox

test: fmt-check vet unit fuzz ## gofmt check, go vet, all tests with -race (PostgreSQL included), brief fuzzing

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

unit:
	$(GO) test -race -count=1 -timeout 20m ./...

fuzz:
	@for t in $(FUZZ); do pkg=$${t%%:*}; fn=$${t##*:}; \
		if grep -qs "func $$fn" ./$$pkg/*_test.go; then \
			echo "fuzz $$pkg $$fn ($(FUZZTIME))"; \
			$(GO) test -run='^$$' -fuzz="^$$fn\$$" -fuzztime=$(FUZZTIME) ./$$pkg || exit 1; \
		else echo "fuzz target $$pkg.$$fn missing"; exit 1; fi; done

bench: build ## the benchmark suite; prints a table (BENCHFLAGS=-quick for a smoke run)
	$(GO) run ./cmd/mospaybench -bin $(BIN) $(BENCHFLAGS)

clean:
	rm -rf bin
