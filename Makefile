# directus-ircd: the two commands a newcomer needs are `make run` and `make test`.
GO        ?= go
BIN       := bin/directus-ircd
PKGS      := ./...
TEST_FLAGS ?= -race -count=1 -timeout 40m
# The packages whose tests talk to Directus, run again on PostgreSQL by test-postgres.
PG_PKGS   := ./internal/dtest ./internal/provision ./directus ./bridge ./cmd/directus-ircd

.PHONY: all build run test test-postgres vet unit directus directus-start directus-stop directus-reset test-deps bench fuzz clean

all: build

build:
	$(GO) build -trimpath -o $(BIN) ./cmd/directus-ircd

# The daemon in the foreground with a local Directus, demo users and the web chat page.
run: build directus
	dev/run.sh

# go vet and every test, including those against a real local Directus (installed on first use),
# then the Directus-facing tests again with Directus on PostgreSQL.
test: directus test-deps vet
	$(GO) test $(TEST_FLAGS) $(PKGS)
	$(MAKE) --no-print-directory test-postgres

# The Directus-facing tests on the checkout's PostgreSQL 15 (installed with apt on first use), which
# dev/postgres.sh starts for the run and stops after it, also when a test fails.
test-postgres: directus test-deps
	dev/postgres.sh run $(GO) test $(TEST_FLAGS) $(PG_PKGS)

vet:
	$(GO) vet $(PKGS)
	@fmt=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$fmt" ]; then echo "gofmt needed: $$fmt"; exit 1; fi

# Tests that need no Directus and no browser.
unit:
	$(GO) test -race -count=1 ./ircd/... ./internal/config/...

# Install Directus (cached outside the clone) and bootstrap the template database.
directus:
	dev/directus.sh template

directus-start:
	dev/directus.sh start
directus-stop:
	dev/directus.sh stop
directus-reset:
	dev/directus.sh reset

test-deps:
	dev/test-deps.sh

bench: build directus
	dev/bench.sh
	go test -run '^$$' -bench . -benchmem ./ircd ./bridge ./directus

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzLine -fuzztime 30s ./ircd/
	$(GO) test -run '^$$' -fuzz FuzzDecodeFrame -fuzztime 30s ./directus/

clean:
	rm -rf bin
