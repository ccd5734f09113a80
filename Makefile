# One entry point for developers and CI: .ci/run calls `make ci`.
GO ?= go
PKGS := ./...

.PHONY: build static image test lint fuzz bench ci

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

# The image, one tarball per architecture, from Go modules alone (no
# container engine, no registry, no base image): bin/podidentity-image-ARCH.tar
# holds IMAGE_REPO:IMAGE_TAG (by default the chart's appVersion, the tag the
# chart deploys) and loads with ctr/kind/k3s/docker/podman. See hack/image.
IMAGE_REPO ?= ghcr.io/podidentity/podidentity
IMAGE_TAG ?= $(shell sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$$/\1/p' deploy/helm/podidentity/Chart.yaml)
IMAGE_ARCHS ?= amd64 arm64
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null)
CREATED ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
image:
	@for arch in $(IMAGE_ARCHS); do \
	  $(MAKE) --no-print-directory static GOOS=linux GOARCH=$$arch VERSION=$(IMAGE_TAG) OUT=bin/podidentity-linux-$$arch || exit 1; \
	  $(GO) run ./hack/image --binary bin/podidentity-linux-$$arch --arch $$arch --ref $(IMAGE_REPO):$(IMAGE_TAG) \
	    --revision "$(REVISION)" --created "$(CREATED)" --out bin/podidentity-image-$$arch.tar || exit 1; \
	  echo "bin/podidentity-image-$$arch.tar: $(IMAGE_REPO):$(IMAGE_TAG) linux/$$arch"; \
	done

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
