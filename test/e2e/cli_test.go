package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The README's "Command line" block, run as a user pastes it into bash
// with podidentity on the PATH: every line succeeds, and completion is
// registered afterwards.
func TestReadmeCommandLine(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Command line\n")
	_, block, ok2 := strings.Cut(section, "```sh\n")
	block, _, ok3 := strings.Cut(block, "```")
	if !ok || !ok2 || !ok3 {
		t.Fatal(`README.md has no "## Command line" section with a sh block`)
	}
	for _, want := range []string{"podidentity help ", "podidentity token --help", "podidentity version", "podidentity completion bash"} {
		if !strings.Contains(block, want) {
			t.Errorf("the block no longer shows %q:\n%s", want, block)
		}
	}
	script := "set -euo pipefail\n" + block + "complete -p podidentity\n"
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bash, "-c", script)
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(binary)+string(os.PathListSeparator)+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{"Available Commands:", "--service-account string", "(required)", "podidentity ", "complete -o default -F __start_podidentity podidentity"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
