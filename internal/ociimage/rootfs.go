package ociimage

import (
	"archive/tar"
	"bytes"
	"encoding/pem"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/crypto/x509roots/fallback/bundle"
)

// NonrootUID is the user (and group) the image runs as, as distroless's
// "nonroot" user: the chart runs the server and webhook with it.
const NonrootUID = 65532

// File is one entry of the image's filesystem. Every entry belongs to root,
// so a Dockerfile's COPY (which makes files root's) gives the same tree.
type File struct {
	Path string // absolute, slash-separated
	Mode fs.FileMode
	Data []byte // nil for directories
}

// IsDir reports whether the entry is a directory.
func (f File) IsDir() bool { return f.Mode.IsDir() }

// Rootfs returns the filesystem of an image running binary at binaryPath:
// the binary, the Mozilla root certificates (for calls to AWS STS), an
// /etc/passwd and /etc/group naming root and nonroot, an nsswitch.conf
// that makes Go's resolver read /etc/hosts first, and a world-writable /tmp.
func Rootfs(binary []byte, binaryPath string) ([]File, error) {
	if !path.IsAbs(binaryPath) || path.Clean(binaryPath) != binaryPath {
		return nil, fmt.Errorf("binary path %q must be absolute and clean", binaryPath)
	}
	certs, err := caBundle()
	if err != nil {
		return nil, err
	}
	files := []File{
		{Path: binaryPath, Mode: 0o755, Data: binary},
		{Path: "/etc/ssl/certs/ca-certificates.crt", Mode: 0o644, Data: certs},
		{Path: "/etc/passwd", Mode: 0o644, Data: []byte(fmt.Sprintf(
			"root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n", NonrootUID, NonrootUID))},
		{Path: "/etc/group", Mode: 0o644, Data: []byte(fmt.Sprintf("root:x:0:\nnonroot:x:%d:\n", NonrootUID))},
		{Path: "/etc/nsswitch.conf", Mode: 0o644, Data: []byte("hosts: files dns\n")},
		{Path: "/tmp", Mode: fs.ModeDir | fs.ModeSticky | 0o777},
		{Path: "/home/nonroot", Mode: fs.ModeDir | 0o755},
		{Path: "/root", Mode: fs.ModeDir | 0o700},
	}
	return withParents(files), nil
}

// caBundle is the PEM bundle of the roots Go's fallback package carries
// (Mozilla's NSS store). Roots with constraints X.509 cannot express (for
// example "distrusted after") are left out rather than trusted without them.
func caBundle() ([]byte, error) {
	var buf bytes.Buffer
	for root := range bundle.Roots() {
		if root.Constraint != nil {
			continue
		}
		if err := pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: root.Certificate}); err != nil {
			return nil, err
		}
	}
	if buf.Len() == 0 {
		return nil, fmt.Errorf("no root certificates in golang.org/x/crypto/x509roots/fallback/bundle")
	}
	return buf.Bytes(), nil
}

// withParents adds the missing parent directories (0755) and sorts the
// entries by path, so that a tar lists every directory before its content
// and the same input always gives the same bytes.
func withParents(files []File) []File {
	have := map[string]bool{}
	for _, f := range files {
		have[f.Path] = true
	}
	for _, f := range files {
		for dir := path.Dir(f.Path); dir != "/" && !have[dir]; dir = path.Dir(dir) {
			have[dir] = true
			files = append(files, File{Path: dir, Mode: fs.ModeDir | 0o755})
		}
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	return files
}

// Tar writes the files as one uncompressed layer: root-owned, every
// timestamp set to mtime, so a rebuild from the same binary is identical.
func Tar(files []File, mtime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		hdr := &tar.Header{
			Name:    strings.TrimPrefix(f.Path, "/"),
			Mode:    int64(f.Mode.Perm()),
			ModTime: mtime,
			Format:  tar.FormatPAX,
		}
		if f.Mode&fs.ModeSticky != 0 {
			hdr.Mode |= 0o1000
		}
		if f.IsDir() {
			hdr.Typeflag = tar.TypeDir
			hdr.Name += "/"
		} else {
			hdr.Typeflag = tar.TypeReg
			hdr.Size = int64(len(f.Data))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.Data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// WriteDir writes the files under dir, as the Dockerfile's build stage does
// before `COPY --from=build /rootfs/ /`.
func WriteDir(dir string, files []File) error {
	for _, f := range files {
		target := filepath.Join(dir, filepath.FromSlash(f.Path))
		if f.IsDir() {
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		} else if err := os.WriteFile(target, f.Data, f.Mode.Perm()); err != nil {
			return err
		}
		// Chmod after the fact: the umask must not change what is copied.
		if err := os.Chmod(target, f.Mode&(fs.ModePerm|fs.ModeSticky)); err != nil {
			return err
		}
	}
	return nil
}
