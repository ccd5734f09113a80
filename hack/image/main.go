// Command image builds the podidentity image from a static binary, without a
// container engine or a registry (`make image` runs it):
//
//	go run ./hack/image --binary bin/podidentity-linux-amd64 --arch amd64 \
//	    --ref ghcr.io/podidentity/podidentity:0.1.0 --out bin/podidentity-image-amd64.tar
//
// With --rootfs DIR it writes the image's filesystem to DIR instead: the
// Dockerfile's build stage does that, so both builds hold the same files.
package main

import (
	"cmp"
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/podidentity/podidentity/internal/ociimage"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fl := flag.NewFlagSet("image", flag.ContinueOnError)
	binary := fl.String("binary", "", "the static podidentity binary to put in the image")
	binaryPath := fl.String("binary-path", "/usr/local/bin/podidentity", "where the binary goes in the image")
	arch := fl.String("arch", "", "the binary's GOARCH (amd64, arm64)")
	ref := fl.String("ref", "", "the image's name and tag, e.g. ghcr.io/podidentity/podidentity:0.1.0")
	version := fl.String("version", "", "the org.opencontainers.image.version label (default: the tag)")
	revision := fl.String("revision", "", "the org.opencontainers.image.revision label: the source commit")
	source := fl.String("source", "https://github.com/podidentity/podidentity", "the org.opencontainers.image.source label")
	created := fl.String("created", "0", "creation time in Unix seconds (the commit's time makes rebuilds identical)")
	user := fl.String("user", fmt.Sprintf("%d:%d", ociimage.NonrootUID, ociimage.NonrootUID), "the user the image runs as")
	out := fl.String("out", "", "the image tarball to write")
	rootfs := fl.String("rootfs", "", "write the image's filesystem to this directory instead of a tarball")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if *binary == "" {
		return fmt.Errorf("--binary is required")
	}
	bin, err := os.ReadFile(*binary)
	if err != nil {
		return err
	}
	files, err := ociimage.Rootfs(bin, *binaryPath)
	if err != nil {
		return err
	}
	if *rootfs != "" {
		return ociimage.WriteDir(*rootfs, files)
	}
	if *arch == "" || *ref == "" || *out == "" {
		return fmt.Errorf("--arch, --ref and --out are required to write an image")
	}
	tag, err := name.NewTag(*ref, name.StrictValidation)
	if err != nil {
		return fmt.Errorf("--ref %q: %w (a tag must be given)", *ref, err)
	}
	secs, err := strconv.ParseInt(*created, 10, 64)
	if err != nil {
		return fmt.Errorf("--created %q: not Unix seconds", *created)
	}
	labels := map[string]string{
		"org.opencontainers.image.title":       "podidentity",
		"org.opencontainers.image.description": "Self-hosted, wire-compatible Amazon EKS Pod Identity: server, node agent and webhook",
		"org.opencontainers.image.source":      *source,
		"org.opencontainers.image.version":     cmp.Or(*version, tag.TagStr()),
	}
	if *revision != "" {
		labels["org.opencontainers.image.revision"] = *revision
	}
	img, err := ociimage.Build(ociimage.Spec{
		Files:      files,
		Arch:       *arch,
		Entrypoint: []string{*binaryPath},
		User:       *user,
		Labels:     labels,
		Created:    time.Unix(secs, 0).UTC(),
	})
	if err != nil {
		return err
	}
	return ociimage.WriteTarball(*out, tag, img)
}
