package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestBinaryDoc runs docs/binary.md's install commands as written in a copy
// of the repository, with GOBIN a temporary directory, and checks that the
// @VERSION form names this module's command.
func TestBinaryDoc(t *testing.T) {
	script := theShellBlock(t, "binary.md")
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "binary.md"))
	if err != nil {
		t.Fatal(err)
	}
	repo := copyRepository(t)
	gobin := t.TempDir()
	env := append(newcomerEnv(t), "GOBIN="+gobin)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, _ := runScript(t, ctx, repo, env, script)
	if !strings.HasPrefix(out, "podidentity ") {
		t.Errorf("bin/podidentity version printed %q", out)
	}
	for _, bin := range []string{filepath.Join(gobin, "podidentity"), filepath.Join(repo, "bin", "podidentity")} {
		if got, err := exec.Command(bin, "version").Output(); err != nil || !strings.HasPrefix(string(got), "podidentity ") {
			t.Errorf("%s version: %q, %v", bin, got, err)
		}
	}

	// The @VERSION form: the path is this module's command, and it builds.
	mod, err := os.ReadFile(filepath.Join(repo, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	module := regexp.MustCompile(`(?m)^module (\S+)$`).FindSubmatch(mod)
	form := regexp.MustCompile(`go install (\S+)@VERSION`).FindSubmatch(doc)
	if module == nil || form == nil || string(form[1]) != string(module[1])+"/cmd/podidentity" {
		t.Fatalf("docs/binary.md's go install ...@VERSION form %q is not module %q's cmd/podidentity", form, module)
	}
	// go install PATH@VERSION refuses a main module with replace or
	// exclude directives: one added would break the documented form.
	if d := regexp.MustCompile(`(?m)^\s*(replace|exclude)\b`).Find(mod); d != nil {
		t.Errorf("go.mod has a %s directive, which go install ...@VERSION refuses", d)
	}
	other := t.TempDir()
	cmd := exec.CommandContext(ctx, "go", "install", string(form[1]))
	cmd.Dir, cmd.Env = repo, append(newcomerEnv(t), "GOBIN="+other)
	if got, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go install %s: %v\n%s", form[1], err, got)
	}
	if got, err := exec.Command(filepath.Join(other, "podidentity"), "version").Output(); err != nil || !strings.HasPrefix(string(got), "podidentity ") {
		t.Errorf("the binary go install %s built: version printed %q, %v", form[1], got, err)
	}
}
