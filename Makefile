# directus-ircd: the two commands a newcomer needs are `make run` and `make test`.
GO        ?= go
BIN       := bin/directus-ircd
PKGS      := ./...
TEST_FLAGS ?= -race -count=1 -timeout 40m
# The packages whose tests talk to Directus, run again on PostgreSQL by test-postgres.
PG_PKGS   := ./internal/dtest ./internal/provision ./directus ./bridge ./cmd/directus-ircd

# The version and commit stamped into the binary (`directus-ircd version`); override with
# `make dist VERSION=v1.2.3`. Without git, the binary falls back to its module build info.
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null)
COMMIT    ?= $(shell git rev-parse HEAD 2>/dev/null)$(shell git diff --quiet HEAD 2>/dev/null || echo +dirty)
VERSION_PKG := github.com/directus-ircd/directus-ircd/internal/version
LDFLAGS   := -X $(VERSION_PKG).version=$(VERSION) -X $(VERSION_PKG).commit=$(COMMIT)
# make dist: static release binaries, one per platform, with their checksums, into $(DIST).
DIST_PLATFORMS := linux/amd64 linux/arm64
DIST      ?= dist

.PHONY: all build dist run test test-postgres vet unit directus directus-start directus-stop directus-reset test-deps bench fuzz clean

all: build

build:
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/directus-ircd

# dist/directus-ircd-<os>-<arch>: static (no libc needed), reproducible paths, stripped;
# dist/SHA256SUMS checks them (`cd dist && sha256sum -c SHA256SUMS`).
dist:
	@set -e; mkdir -p $(DIST); rm -f $(DIST)/directus-ircd-* $(DIST)/SHA256SUMS; \
	for p in $(DIST_PLATFORMS); do \
	  os=$${p%/*}; arch=$${p#*/}; \
	  echo "build $(DIST)/directus-ircd-$$os-$$arch ($(VERSION))"; \
	  CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags "-s -w $(LDFLAGS)" \
	    -o $(DIST)/directus-ircd-$$os-$$arch ./cmd/directus-ircd; \
	done; \
	cd $(DIST) && sha256sum directus-ircd-* > SHA256SUMS && cat SHA256SUMS

# The daemon in the foreground with a local Directus, demo users and the web chat page
# (dev/run.sh builds the daemon with `make build`).
run: directus
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
	rm -rf bin dist/directus-ircd-* dist/SHA256SUMS
