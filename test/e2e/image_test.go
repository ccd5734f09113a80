package e2e

import (
	"bufio"
	"context"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/podidentity/podidentity/internal/testenv"
)

// There is no container runtime here to build the image with, so this
// test does the Dockerfile's build stage without Docker: it copies only
// what the Dockerfile's COPY lines put in the build context, runs the same
// `make static` there, and checks the result is a static binary that runs
// (the runtime stage is distroless, without a C library) and reports the
// version it was stamped with. It also keeps the Dockerfile's Go version
// in step with go.mod.
func TestStaticBuildAsTheDockerfileDoes(t *testing.T) {
	makeBin := testenv.LookPath(t, "make")
	root := filepath.Join("..", "..")
	dockerfile, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	goDirective := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(gomod)
	goArg := regexp.MustCompile(`(?m)^ARG GO_VERSION=(\S+)$`).FindSubmatch(dockerfile)
	if goDirective == nil || goArg == nil || string(goArg[1]) != string(goDirective[1]) {
		t.Fatalf("the Dockerfile builds with Go %q, go.mod asks for %q", goArg, goDirective)
	}

	// The build stage's context: every COPY that does not come --from
	// another stage.
	buildContext := t.TempDir()
	var copied []string
	sc := bufio.NewScanner(strings.NewReader(string(dockerfile)))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 3 || f[0] != "COPY" || strings.HasPrefix(f[1], "--") {
			continue
		}
		for _, src := range f[1 : len(f)-1] {
			cp := exec.Command("cp", "-r", filepath.Join(root, src), filepath.Join(buildContext, filepath.Base(src)))
			if out, err := cp.CombinedOutput(); err != nil {
				t.Fatalf("copying %s into the build context: %v\n%s", src, err, out)
			}
			copied = append(copied, src)
		}
	}
	if len(copied) == 0 {
		t.Fatal("no COPY lines found in the Dockerfile")
	}

	out := filepath.Join(t.TempDir(), "podidentity")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, makeBin, "static", "VERSION=v0.0.0-imagetest", "OUT="+out)
	build.Dir = buildContext
	if output, err := build.CombinedOutput(); err != nil {
		t.Fatalf("make static in a context of only %v: %v\n%s", copied, err, output)
	}
	bin, err := elf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer bin.Close()
	for _, p := range bin.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary is dynamically linked; the distroless static image has no loader")
		}
	}
	version, err := exec.Command(out, "version").Output()
	if err != nil || strings.TrimSpace(string(version)) != "podidentity v0.0.0-imagetest" {
		t.Errorf("podidentity version = %q, %v", version, err)
	}
}
