package e2e

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/podidentity/podidentity/internal/testenv"
)

// dockerfile is the Dockerfile read as Docker would for what these tests
// need: the build stage's COPY and RUN lines, and the final stage's
// instructions.
type dockerfile struct {
	goVersion string
	copies    [][2]string // build context path, destination under WORKDIR
	runs      []string
	final     map[string]string // USER, ENTRYPOINT, ENV, and COPY (--from)
}

func readDockerfile(t *testing.T, root string) dockerfile {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df := dockerfile{final: map[string]string{}}
	if m := regexp.MustCompile(`(?m)^ARG GO_VERSION=(\S+)$`).FindSubmatch(raw); m != nil {
		df.goVersion = string(m[1])
	}
	stage := 0
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		word, rest, _ := strings.Cut(line, " ")
		switch {
		case word == "FROM":
			stage++
		case stage == 1 && word == "COPY":
			f := strings.Fields(rest)
			for _, src := range f[:len(f)-1] {
				dst := f[len(f)-1]
				if strings.HasSuffix(dst, "/") {
					dst = path.Join(dst, path.Base(src))
				}
				df.copies = append(df.copies, [2]string{src, dst})
			}
		case stage == 1 && word == "RUN":
			df.runs = append(df.runs, rest)
		case stage == 2:
			df.final[word] = rest
		}
	}
	if len(df.copies) == 0 || len(df.runs) == 0 {
		t.Fatalf("no build stage COPY or RUN lines found in the Dockerfile")
	}
	return df
}

// There is no container engine here to build the image with, so this test
// does the Dockerfile's build stage without Docker: it copies only what the
// Dockerfile's COPY lines put in the build context and runs its RUN lines
// there. The binary must be static (the final stage is FROM scratch) and
// report the version it was stamped with, and the filesystem the final
// stage copies must be, file for file, the one `make image`'s tarball
// holds, with the same user, entrypoint and environment. It also keeps the
// Dockerfile's Go version in step with go.mod.
func TestImageAsTheDockerfileBuildsIt(t *testing.T) {
	testenv.LookPath(t, "make")
	root := filepath.Join("..", "..")
	df := readDockerfile(t, root)
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	goDirective := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(gomod)
	if goDirective == nil || df.goVersion != string(goDirective[1]) {
		t.Fatalf("the Dockerfile builds with Go %q, go.mod asks for %q", df.goVersion, goDirective)
	}

	buildContext := t.TempDir()
	for _, c := range df.copies {
		dst := filepath.Join(buildContext, filepath.FromSlash(c[1]))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		cp := exec.Command("cp", "-r", filepath.Join(root, c[0]), dst)
		if out, err := cp.CombinedOutput(); err != nil {
			t.Fatalf("copying %s into the build context: %v\n%s", c[0], err, out)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for _, run := range df.runs {
		cmd := exec.CommandContext(ctx, "sh", "-c", run)
		cmd.Dir = buildContext
		cmd.Env = append(os.Environ(), "TARGETOS=linux", "TARGETARCH="+runtime.GOARCH, "VERSION=v0.0.0-imagetest")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("RUN %s in a context of only %v: %v\n%s", run, df.copies, err, out)
		}
	}

	// COPY --from=build /src/rootfs/ /
	from := strings.Fields(df.final["COPY"])
	if len(from) != 3 || from[0] != "--from=build" || from[2] != "/" || !strings.HasPrefix(from[1], "/src/") {
		t.Fatalf("the final stage should copy one tree from the build stage's /src to /, got COPY %s", df.final["COPY"])
	}
	rootfs := filepath.Join(buildContext, strings.TrimPrefix(from[1], "/src/"))
	bin := filepath.Join(rootfs, "usr", "local", "bin", "podidentity")
	checkStatic(t, bin)
	version, err := exec.Command(bin, "version").Output()
	if err != nil || strings.TrimSpace(string(version)) != "podidentity v0.0.0-imagetest" {
		t.Errorf("podidentity version = %q, %v", version, err)
	}

	// `make image` from the same binary.
	tarPath := filepath.Join(t.TempDir(), "image.tar")
	mk := exec.CommandContext(ctx, "go", "run", "./hack/image", "--binary", bin, "--arch", runtime.GOARCH,
		"--ref", "example.test/podidentity:imagetest", "--out", tarPath)
	mk.Dir = root
	if out, err := mk.CombinedOutput(); err != nil {
		t.Fatalf("hack/image: %v\n%s", err, out)
	}
	img, err := tarball.ImageFromPath(tarPath, nil)
	if err != nil {
		t.Fatalf("the tarball does not load as a docker archive: %v", err)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers = %d, %v; want one", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if diff := cmp.Diff(treeOfDir(t, rootfs), treeOfTar(t, rc)); diff != "" {
		t.Errorf("the Dockerfile's filesystem (-) differs from make image's (+):\n%s", diff)
	}

	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	var entrypoint []string
	if err := json.Unmarshal([]byte(df.final["ENTRYPOINT"]), &entrypoint); err != nil {
		t.Fatalf("ENTRYPOINT %s: %v", df.final["ENTRYPOINT"], err)
	}
	want := map[string]any{"user": df.final["USER"], "entrypoint": entrypoint, "env": strings.Fields(df.final["ENV"])}
	got := map[string]any{"user": cfg.Config.User, "entrypoint": cfg.Config.Entrypoint, "env": cfg.Config.Env}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the Dockerfile's final stage (-) and make image's config (+) differ:\n%s", diff)
	}
	if cfg.OS != "linux" || cfg.Architecture != runtime.GOARCH || cfg.Config.Labels["org.opencontainers.image.source"] == "" {
		t.Errorf("config os/arch/labels = %s/%s %v", cfg.OS, cfg.Architecture, cfg.Config.Labels)
	}

	// The same tarball is an OCI image layout, as containerd imports it.
	layoutDir := t.TempDir()
	if out, err := exec.Command("tar", "-xf", tarPath, "-C", layoutDir).CombinedOutput(); err != nil {
		t.Fatalf("untar: %v\n%s", err, out)
	}
	index, err := layout.ImageIndexFromPath(layoutDir)
	if err != nil {
		t.Fatalf("the tarball is not an OCI image layout: %v", err)
	}
	manifest, err := index.IndexManifest()
	if err != nil || len(manifest.Manifests) != 1 {
		t.Fatalf("index.json: %v, %v", manifest, err)
	}
	if name := manifest.Manifests[0].Annotations["io.containerd.image.name"]; name != "example.test/podidentity:imagetest" {
		t.Errorf("containerd would name the image %q", name)
	}
	ociImg, err := index.Image(manifest.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	// docker load rebuilds the manifest from manifest.json, so the two
	// agree on the configuration (which names the layers), not the manifest.
	if c1, c2 := configName(t, ociImg), configName(t, img); c1 != c2 {
		t.Errorf("the OCI layout holds configuration %s, manifest.json %s", c1, c2)
	}
}

func checkStatic(t *testing.T, bin string) {
	t.Helper()
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary is dynamically linked; the image has no loader")
		}
	}
}

func configName(t *testing.T, img v1.Image) string {
	t.Helper()
	d, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// treeOfDir and treeOfTar describe a filesystem as path → "mode sha256":
// enough to tell two trees apart without printing a binary in a diff.
func treeOfDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	tree := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel := "/" + filepath.ToSlash(strings.TrimPrefix(p, dir+string(filepath.Separator)))
		var data []byte
		if info.Mode().IsRegular() {
			if data, err = os.ReadFile(p); err != nil {
				return err
			}
		}
		tree[rel] = describe(info.Mode()&(fs.ModeDir|fs.ModePerm|fs.ModeSticky), data)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return tree
}

func treeOfTar(t *testing.T, r io.Reader) map[string]string {
	t.Helper()
	tree := map[string]string{}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return tree
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		mode := hdr.FileInfo().Mode() & (fs.ModeDir | fs.ModePerm | fs.ModeSticky)
		tree["/"+strings.TrimSuffix(hdr.Name, "/")] = describe(mode, data)
	}
}

func describe(mode fs.FileMode, data []byte) string {
	return fmt.Sprintf("%s %x", mode, sha256.Sum256(data))
}
