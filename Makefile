# One entry point for developers and CI: .ci/run calls `make ci`.
GO ?= go
PKGS := ./...

.PHONY: build static test lint fuzz bench ci

build:
	$(GO) build -o bin/podidentity ./cmd/podidentity

# The release binary, as the Dockerfile builds it: static (no cgo), no
# local paths, the version stamped in. GOOS/GOARCH cross-compile.
VERSION ?= dev
OUT ?= bin/podidentity-static
static:
	CGO_ENABLED=0 $(if $(GOOS),GOOS=$(GOOS)) $(if $(GOARCH),GOARCH=$(GOARCH)) $(GO) build -trimpath \
	  -ldflags "-s -w -X github.com/podidentity/podidentity/internal/cli.Version=$(VERSION)" \
	  -o $(OUT) ./cmd/podidentity

# All tests: unit, HTTP (aws-sdk-go-v2), end to end (boto3, AWS CLI,
# moto), PostgreSQL and a real kube-apiserver, with their tools prepared by
# hack/with-test-tools.sh first.
test: lint
	hack/with-test-tools.sh $(GO) test -count=1 -race -timeout 20m $(PKGS)

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet $(PKGS)

# Each fuzz target for a bounded budget (FUZZTIME), seeded by testdata/fuzz.
# The default is an execution count, not a duration: Go 1.26's fuzz
# coordinator can report a bare "context deadline exceeded" failure when a
# duration runs out while a worker is busy (golang/go#75804, fixed in Go
# 1.27). A count has no deadline to race; -timeout still bounds each run.
FUZZTIME ?= 100000x
fuzz:
	@for pkg in $$($(GO) list $(PKGS)); do \
	  for target in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$target ($(FUZZTIME))"; \
	    $(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) -timeout 10m $$pkg || exit 1; \
	  done; \
	done

bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

ci: test fuzz
