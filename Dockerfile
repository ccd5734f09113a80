# The podidentity image for those who build with Docker: the same files as
# `make image` (which needs no Docker), because the build stage writes them
# with the same program (hack/image --rootfs). One static binary, run as uid
# 65532; one image serves the server, the agent and the webhook: the chart
# passes the subcommand as args.
#
#   docker build -t ghcr.io/podidentity/podidentity:0.1.0 --build-arg VERSION=0.1.0 .
#
# test/e2e's TestImageAsTheDockerfileBuildsIt runs this build stage's RUN
# lines in a copy of exactly its build context and compares the filesystem
# with `make image`'s. GO_VERSION follows go.mod's go directive; the same
# test checks it.
ARG GO_VERSION=1.26
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
ARG TARGETOS TARGETARCH VERSION=dev
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY Makefile ./
COPY cmd cmd
COPY internal internal
COPY hack/image hack/image
RUN make static GOOS=$TARGETOS GOARCH=$TARGETARCH VERSION=$VERSION OUT=out/podidentity
RUN go run ./hack/image --binary out/podidentity --rootfs rootfs

FROM scratch
COPY --from=build /src/rootfs/ /
USER 65532:65532
ENV PATH=/usr/local/bin:/usr/bin:/bin SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
ENTRYPOINT ["/usr/local/bin/podidentity"]
