# One entry point for developers and CI: .ci/run calls `make ci`.
GO ?= go
PKGS := ./...

.PHONY: build test lint fuzz bench ci

build:
	$(GO) build -o bin/podidentity ./cmd/podidentity

# All tests: unit, HTTP (aws-sdk-go-v2), end to end (boto3, AWS CLI,
# moto), PostgreSQL and a real kube-apiserver, with their tools prepared by
# hack/with-test-tools.sh first.
test: lint
	hack/with-test-tools.sh $(GO) test -count=1 -race -timeout 20m $(PKGS)

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet $(PKGS)

# Each fuzz target for a bounded time (FUZZTIME), seeded by testdata/fuzz.
FUZZTIME ?= 10s
fuzz:
	@for pkg in $$($(GO) list $(PKGS)); do \
	  for target in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$target ($(FUZZTIME))"; \
	    $(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

ci: test fuzz
