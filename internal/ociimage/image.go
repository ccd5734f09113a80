package ociimage

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Spec says what image to build around a filesystem.
type Spec struct {
	Files      []File
	Arch       string // GOARCH: amd64, arm64, ...
	Entrypoint []string
	User       string // "65532:65532", or "" for root
	Labels     map[string]string
	// Created is the image's creation time and every file's mtime; a
	// fixed value (the commit's time) makes rebuilds byte-identical.
	Created time.Time
}

// Build returns the single-layer OCI image Spec describes.
func Build(spec Spec) (v1.Image, error) {
	if spec.Arch == "" || len(spec.Entrypoint) == 0 {
		return nil, fmt.Errorf("an image needs an architecture and an entrypoint")
	}
	layerTar, err := Tar(spec.Files, spec.Created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err := mutate.Append(base, mutate.Addendum{
		Layer:   layer,
		History: v1.History{Created: v1.Time{Time: spec.Created}, CreatedBy: "podidentity ociimage"},
	})
	if err != nil {
		return nil, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	// containerd imports only images whose os/architecture match the node,
	// so both must be set.
	cfg.OS = "linux"
	cfg.Architecture = spec.Arch
	if spec.Arch == "arm64" {
		cfg.Variant = "v8"
	}
	cfg.Created = v1.Time{Time: spec.Created}
	cfg.Config.Entrypoint = spec.Entrypoint
	cfg.Config.User = spec.User
	cfg.Config.WorkingDir = "/"
	cfg.Config.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"}
	cfg.Config.Labels = spec.Labels
	return mutate.ConfigFile(img, cfg)
}

// WriteTarball writes img under ref as one tarball that is at the same time
// an OCI image layout (oci-layout, index.json, blobs/) and a `docker save`
// archive (manifest.json), as `docker save` writes since Docker 25: `ctr
// images import`, `kind load image-archive` and `k3s ctr images import`
// read the former; `docker load` and `podman load` either.
func WriteTarball(path string, ref name.Tag, img v1.Image) (err error) {
	manifest, err := img.RawManifest()
	if err != nil {
		return err
	}
	manifestDigest, err := img.Digest()
	if err != nil {
		return err
	}
	config, err := img.RawConfigFile()
	if err != nil {
		return err
	}
	configDigest, err := img.ConfigName()
	if err != nil {
		return err
	}
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	blobPath := func(h v1.Hash) string { return "blobs/" + h.Algorithm + "/" + h.Hex }

	index := v1.IndexManifest{
		SchemaVersion: 2,
		MediaType:     types.OCIImageIndex,
		Manifests: []v1.Descriptor{{
			MediaType: types.OCIManifestSchema1,
			Size:      int64(len(manifest)),
			Digest:    manifestDigest,
			Annotations: map[string]string{
				// containerd names the image by the first, OCI tools by the second.
				"io.containerd.image.name":          ref.Name(),
				"org.opencontainers.image.ref.name": ref.TagStr(),
			},
		}},
	}
	docker := []map[string]any{{
		"Config":   blobPath(configDigest),
		"RepoTags": []string{ref.Name()},
		"Layers":   []string{},
	}}

	tmp, err := os.CreateTemp(filepath.Dir(path), ".image-*.tar")
	if err != nil {
		return err
	}
	defer func() {
		tmp.Close()
		if err != nil {
			os.Remove(tmp.Name())
		}
	}()
	tw := tar.NewWriter(tmp)
	add := func(name string, r io.Reader, size int64) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: size, Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err := io.Copy(tw, r)
		return err
	}
	addBytes := func(name string, b []byte) error { return add(name, bytes.NewReader(b), int64(len(b))) }

	if err := addBytes("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
		return err
	}
	if err := addBytes(blobPath(configDigest), config); err != nil {
		return err
	}
	for _, layer := range layers {
		digest, err := layer.Digest()
		if err != nil {
			return err
		}
		size, err := layer.Size()
		if err != nil {
			return err
		}
		rc, err := layer.Compressed()
		if err != nil {
			return err
		}
		err = add(blobPath(digest), rc, size)
		rc.Close()
		if err != nil {
			return err
		}
		docker[0]["Layers"] = append(docker[0]["Layers"].([]string), blobPath(digest))
	}
	if err := addBytes(blobPath(manifestDigest), manifest); err != nil {
		return err
	}
	indexJSON, err := json.Marshal(index)
	if err != nil {
		return err
	}
	if err := addBytes("index.json", indexJSON); err != nil {
		return err
	}
	dockerJSON, err := json.Marshal(docker)
	if err != nil {
		return err
	}
	if err := addBytes("manifest.json", dockerJSON); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
