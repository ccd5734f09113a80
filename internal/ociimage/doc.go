// Package ociimage builds container images without a container engine or a
// registry: one layer holding a static binary and the few files a static
// program needs (CA certificates, the nonroot user, /tmp), written as an
// image tarball that containerd (ctr, kind, k3s), docker and podman load.
//
// The podidentity image is built by `make image` (hack/image); the
// Dockerfile copies the same filesystem (Rootfs written to a directory), so
// both ways of building give the same files. The real-node tests build
// their own small images the same way.
package ociimage
