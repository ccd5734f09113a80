package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/podidentity/podidentity/internal/testenv"
)

// TestImageTarballLoadsInPodman: the tarball `make image` writes is taken
// by a second, independent loader (podman, which reads docker archives and
// OCI layouts alike) with its name, platform, user and entrypoint intact.
// containerd's `ctr images import` is exercised by test/node. Podman keeps
// its store and state in the test's directories.
func TestImageTarballLoadsInPodman(t *testing.T) {
	podman := testenv.LookPath(t, "podman")
	if os.Geteuid() != 0 {
		testenv.Missing(t, "root (podman with a store of the test's own)")
	}
	// Podman keeps a blob cache in /var/lib/containers/cache whatever its
	// store; leave the machine as it was.
	if _, err := os.Stat("/var/lib/containers"); os.IsNotExist(err) {
		t.Cleanup(func() { os.RemoveAll("/var/lib/containers") })
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	root := filepath.Join("..", "..")
	bin := filepath.Join(dir, "pause")
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", bin, "./test/node/pause")
	build.Dir, build.Env = root, append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	tarPath := filepath.Join(dir, "image.tar")
	mk := exec.CommandContext(ctx, "go", "run", "./hack/image", "--binary", bin, "--arch", runtime.GOARCH,
		"--ref", "example.test/podidentity:loadtest", "--revision", "0123abc", "--out", tarPath)
	mk.Dir = root
	if out, err := mk.CombinedOutput(); err != nil {
		t.Fatalf("hack/image: %v\n%s", err, out)
	}
	// podman wants a short runroot (at most 50 characters).
	runroot, err := os.MkdirTemp("", "pm-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(runroot)
	store := []string{"--root", filepath.Join(dir, "storage"), "--runroot", runroot, "--storage-driver", "vfs",
		"--tmpdir", filepath.Join(runroot, "libpod"), "--volumepath", filepath.Join(dir, "volumes")}
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.CommandContext(ctx, podman, append(store, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("podman %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	if out := run("load", "-i", tarPath); !strings.Contains(out, "example.test/podidentity:loadtest") {
		t.Errorf("podman load did not name the image:\n%s", out)
	}
	got := strings.TrimSpace(run("image", "inspect", "example.test/podidentity:loadtest", "--format",
		`{{.Os}}/{{.Architecture}} {{.Config.User}} {{index .Config.Entrypoint 0}} {{index .Config.Labels "org.opencontainers.image.revision"}}`))
	if want := "linux/" + runtime.GOARCH + " 65532:65532 /usr/local/bin/podidentity 0123abc"; got != want {
		t.Errorf("podman sees %q, want %q", got, want)
	}
}
