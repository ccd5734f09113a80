# The podidentity image: one static binary on distroless, run as uid 65532
# (the user the Helm chart runs the server and webhook as; the agent runs as
# root with NET_BIND_SERVICE only). One image serves the server, the agent
# and the webhook: the chart passes the subcommand as args.
#
#   docker build -t ghcr.io/podidentity/podidentity:0.1.0 --build-arg VERSION=0.1.0 .
#
# The binary is built by `make static` (no cgo: SQLite is modernc.org's
# pure-Go build), which test/e2e's TestStaticBuild runs on every CI run.
# GO_VERSION follows go.mod's go directive; the same test checks it.
ARG GO_VERSION=1.26
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
ARG TARGETOS TARGETARCH VERSION=dev
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY Makefile ./
COPY cmd cmd
COPY internal internal
RUN make static GOOS=$TARGETOS GOARCH=$TARGETARCH VERSION=$VERSION OUT=/out/podidentity

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/podidentity /usr/local/bin/podidentity
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/podidentity"]
