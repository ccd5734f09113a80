package cli

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// `version` names the commit a `go build` binary was built from and
// whether its tree had changes, from what the toolchain records: a copy of
// the module is committed to a new repository, built, changed, built again.
func TestVersionReportsCommitAndModified(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary twice")
	}
	git, err := exec.LookPath("git")
	if err != nil {
		t.Skip("no git")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(t.TempDir(), "src")
	copyModule(t, root, src)
	runIn := func(dir, name string, args ...string) string {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir = dir
		// -buildvcs=false in the environment (CI sets it for speed) would
		// leave the build without the information under test.
		cmd.Env = append(os.Environ(), "GOFLAGS=-buildvcs=true", "GIT_CONFIG_GLOBAL=/dev/null",
			"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	runIn(src, git, "init", "-q")
	runIn(src, git, "add", "-A")
	runIn(src, git, "commit", "-q", "-m", "copy")
	commit := runIn(src, git, "rev-parse", "HEAD")
	bin := filepath.Join(t.TempDir(), "podidentity")
	build := func() string {
		runIn(src, "go", "build", "-o", bin, "./cmd/podidentity")
		return runIn(src, bin, "version")
	}

	// The first line is the version (Go stamps a pseudo-version from the
	// commit); the commit lines follow it.
	want := "\ncommit: " + commit + "\nmodified: false"
	if got := build(); !strings.HasPrefix(got, "podidentity ") || !strings.HasSuffix(got, want) || strings.Count(got, "\n") != 2 {
		t.Errorf("clean tree: version = %q, want a version line then %q", got, want)
	}
	if err := os.WriteFile(filepath.Join(src, "README.md"), []byte("changed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	want = "\ncommit: " + commit + "\nmodified: true"
	got := build()
	if !strings.HasPrefix(got, "podidentity ") || !strings.HasSuffix(got, want) || strings.Count(got, "\n") != 2 {
		t.Errorf("changed tree: version = %q, want a version line then %q", got, want)
	}
	if flag := runIn(src, bin, "--version"); flag != got {
		t.Errorf("--version = %q, version = %q", flag, got)
	}
}

// copyModule copies the module's files (not its repository) from root to dst.
func copyModule(t *testing.T, root, dst string) {
	t.Helper()
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "bin" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if d.Type()&os.ModeSymlink != 0 || (!d.IsDir() && !d.Type().IsRegular()) {
			return nil
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if d.Name() == ".git" {
			return nil // a worktree's .git file
		}
		in, err := os.Open(path)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.Create(target)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
}
