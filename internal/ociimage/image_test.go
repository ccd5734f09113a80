package ociimage

import (
	"crypto/x509"
	"encoding/pem"
	"io/fs"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func build(t *testing.T, arch string) (digest string, tarPath string) {
	t.Helper()
	files, err := Rootfs([]byte("#!binary"), "/usr/local/bin/podidentity")
	if err != nil {
		t.Fatal(err)
	}
	img, err := Build(Spec{
		Files: files, Arch: arch, Entrypoint: []string{"/usr/local/bin/podidentity"},
		User: "65532:65532", Created: time.Unix(1700000000, 0),
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	tarPath = filepath.Join(t.TempDir(), "image.tar")
	if err := WriteTarball(tarPath, name.MustParseReference("example.test/p:1").(name.Tag), img); err != nil {
		t.Fatal(err)
	}
	return d.String(), tarPath
}

// Rebuilding from the same binary gives the same image, so a release can
// be checked by rebuilding it.
func TestBuildIsReproducible(t *testing.T) {
	d1, _ := build(t, "amd64")
	d2, _ := build(t, "amd64")
	if d1 != d2 {
		t.Errorf("two builds of one input: %s and %s", d1, d2)
	}
}

// containerd imports only the images whose platform matches the node, so
// each architecture's image must say which it is.
func TestPlatformIsSet(t *testing.T) {
	for arch, variant := range map[string]string{"amd64": "", "arm64": "v8"} {
		_, path := build(t, arch)
		img, err := tarball.ImageFromPath(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cfg.OS != "linux" || cfg.Architecture != arch || cfg.Variant != variant || cfg.Config.User != "65532:65532" {
			t.Errorf("%s: os %q arch %q variant %q user %q", arch, cfg.OS, cfg.Architecture, cfg.Variant, cfg.Config.User)
		}
	}
}

// The sts backend calls AWS over TLS: the image must carry roots Go reads.
func TestRootfsCarriesCACertificates(t *testing.T) {
	files, err := Rootfs([]byte("x"), "/usr/local/bin/x")
	if err != nil {
		t.Fatal(err)
	}
	byPath := map[string]File{}
	for _, f := range files {
		byPath[f.Path] = f
	}
	bundle := byPath["/etc/ssl/certs/ca-certificates.crt"].Data
	n := 0
	for rest := bundle; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			t.Fatalf("certificate %d: %v", n, err)
		}
		n++
	}
	if n < 100 {
		t.Errorf("%d root certificates; want Mozilla's ~140", n)
	}
	if tmp := byPath["/tmp"]; !tmp.IsDir() || tmp.Mode.Perm() != 0o777 || tmp.Mode&fs.ModeSticky == 0 {
		t.Errorf("/tmp mode %v; want a sticky world-writable directory", tmp.Mode)
	}
	for _, dir := range []string{"/usr", "/usr/local", "/usr/local/bin", "/etc/ssl"} {
		if !byPath[dir].IsDir() {
			t.Errorf("parent %s missing", dir)
		}
	}
	if _, err := Rootfs(nil, "relative/bin"); err == nil {
		t.Error("a relative binary path was accepted")
	}
}
