package e2e

import (
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/podidentity/podidentity/internal/testenv"
)

// TestREADMEQuickstartAsAScript reads the README top to bottom as a
// newcomer does, in a fresh network namespace (so that ports 8080 and 8081
// are free, as on their machine) and a copy of the repository: the first
// command (`go run ./cmd/podidentity server --dev`) keeps running; the
// commands its banner prints work as printed; the Quickstart's shell block
// runs as one script, exactly as written, beside it; then its boto3
// snippet runs in a shell of its own, without the variables the script
// exported.
func TestREADMEQuickstartAsAScript(t *testing.T) {
	testenv.LookPath(t, "aws")
	python := testenv.Python(t, "boto3")
	if inside, _ := inAgentNetns(t); !inside {
		return
	}
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	first := regexp.MustCompile("(?s)```sh\n([^\n#]*?)\\s*#").FindSubmatch(readme)
	if first == nil || string(first[1]) != "go run ./cmd/podidentity server --dev" {
		t.Fatalf("the README's first command is no longer `go run ./cmd/podidentity server --dev`: %q", first)
	}
	_, quick, ok := strings.Cut(string(readme), "\n## Quickstart")
	if !ok {
		t.Fatal("the README has no Quickstart section")
	}
	quick, _, _ = strings.Cut(quick, "\n## ")
	script := regexp.MustCompile("(?s)```sh\n(.*?)```").FindStringSubmatch(quick)
	snippet := regexp.MustCompile("(?s)```python\n(.*?)```").FindStringSubmatch(quick)
	if script == nil || snippet == nil {
		t.Fatal("the Quickstart lost its sh or python block")
	}

	repo := copyRepository(t)
	env := newcomerEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	// The README's first command, left running.
	dev := startShell(t, ctx, repo, env, string(first[1]))
	banner := dev.waitFor(t, "get-caller-identity", 2*time.Minute)
	if strings.Contains(dev.out(), "TOKEN") {
		t.Errorf("the dev banner went to stdout:\n%s", dev.out())
	}
	if !strings.Contains(dev.out(), "listening on http://127.0.0.1:8080") {
		t.Errorf("the first command does not listen on 127.0.0.1:8080 as the README says:\n%s", dev.out())
	}
	var commands []string
	for _, line := range strings.Split(banner, "\n") {
		if strings.HasPrefix(line, "  ") {
			commands = append(commands, line)
		}
	}
	bannerScript := strings.Join(commands, "\n")
	if !strings.Contains(bannerScript, "TOKEN=$(go run ./cmd/podidentity token ") {
		t.Errorf("after go run, the banner should say to run `go run ./cmd/podidentity token`:\n%s", banner)
	}
	out, stderr := runScript(t, ctx, repo, env, bannerScript)
	if !strings.Contains(out, ":assumed-role/demo-app/eks-demo-app-dev-") {
		t.Errorf("the dev banner's commands, as printed, did not get credentials:\nstdout: %s\nstderr: %s", out, stderr)
	}

	// The Quickstart, as one script, while the first server runs.
	out, stderr = runScript(t, ctx, repo, env, script[1])
	if !strings.Contains(out, `"Arn": "arn:aws:sts::123456789012:assumed-role/demo-app/eks-demo-app-dev-`) {
		t.Errorf("the Quickstart's get-caller-identity printed no assumed-role ARN:\nstdout: %s\nstderr: %s", out, stderr)
	}
	if strings.Contains(stderr, "address already in use") {
		t.Errorf("the Quickstart's server could not listen:\n%s", stderr)
	}

	// The boto3 snippet, in a shell of its own.
	cmd := exec.CommandContext(ctx, python, "-c", snippet[1])
	cmd.Dir, cmd.Env = repo, env
	got, err := cmd.CombinedOutput()
	if err != nil || !strings.HasPrefix(string(got), "arn:aws:eks:us-west-2:123456789012:podidentityassociation/demo/a-") {
		t.Errorf("the Quickstart's boto3 snippet: %v\n%s", err, got)
	}
}

// copyRepository copies the module (without .git and bin/) into a
// temporary directory, where the docs' commands may build and write.
func copyRepository(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		switch {
		case rel == ".git" || rel == "bin":
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		case d.IsDir():
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		case !d.Type().IsRegular():
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		info, _ := d.Info()
		return os.WriteFile(filepath.Join(dst, rel), b, info.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// newcomerEnv is a fresh user's environment: an empty home (no AWS
// configuration, no AWS variables), the tools on PATH, and the Go caches
// this machine already has (the network namespace has no network).
func newcomerEnv(t *testing.T) []string {
	t.Helper()
	env := []string{"HOME=" + t.TempDir(), "GOTOOLCHAIN=local", "GOPROXY=off", "GOFLAGS=-buildvcs=false"}
	for _, v := range []string{"GOCACHE", "GOMODCACHE", "GOPATH"} {
		out, err := exec.Command("go", "env", v).Output()
		if err != nil {
			t.Fatal(err)
		}
		env = append(env, v+"="+strings.TrimSpace(string(out)))
	}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k == "PATH" || k == "LANG" || strings.HasPrefix(k, "PYENV") {
			env = append(env, kv)
		}
	}
	return env
}

// shell is a bash process group started by a test: a script and what it
// leaves running in the background. Its output goes to files, not pipes,
// so that bash's end is seen while its background jobs still hold them.
type shell struct {
	cmd            *exec.Cmd
	stdout, stderr *os.File
	done           chan struct{}
}

func (s *shell) out() string    { b, _ := os.ReadFile(s.stdout.Name()); return string(b) }
func (s *shell) errOut() string { b, _ := os.ReadFile(s.stderr.Name()); return string(b) }

// startShell runs script with bash in its own process group, which is
// killed when the test ends (with what it started in the background).
func startShell(t *testing.T, ctx context.Context, dir string, env []string, script string) *shell {
	t.Helper()
	cmd := exec.Command("bash", "-e", "-o", "pipefail", "-c", script)
	cmd.Dir, cmd.Env = dir, env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	s := &shell{cmd: cmd, done: make(chan struct{})}
	var err error
	if s.stdout, err = os.CreateTemp(t.TempDir(), "stdout"); err != nil {
		t.Fatal(err)
	}
	if s.stderr, err = os.CreateTemp(t.TempDir(), "stderr"); err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = s.stdout, s.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pgid := cmd.Process.Pid
	go func() { cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(15 * time.Second):
			syscall.Kill(-pgid, syscall.SIGKILL)
		}
		// Background jobs outlive bash; give them a moment to go.
		for i := 0; i < 50 && syscall.Kill(-pgid, 0) == nil; i++ {
			time.Sleep(100 * time.Millisecond)
		}
		syscall.Kill(-pgid, syscall.SIGKILL)
		if t.Failed() {
			t.Logf("%s\nstdout: %s\nstderr: %s", script, s.out(), s.errOut())
		}
		s.stdout.Close()
		s.stderr.Close()
	})
	return s
}

// waitFor waits until the shell's stderr contains s and returns it.
func (s *shell) waitFor(t *testing.T, want string, limit time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if got := s.errOut(); strings.Contains(got, want) {
			return got
		}
		select {
		case <-s.done:
			t.Fatalf("exited before printing %q:\nstdout: %s\nstderr: %s", want, s.out(), s.errOut())
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Fatalf("did not print %q within %s:\nstdout: %s\nstderr: %s", want, limit, s.out(), s.errOut())
	return ""
}

// runScript runs script to its end (what it starts in the background
// keeps running until the test ends) and fails the test if it fails.
func runScript(t *testing.T, ctx context.Context, dir string, env []string, script string) (stdout, stderr string) {
	t.Helper()
	s := startShell(t, ctx, dir, env, script)
	select {
	case <-s.done:
	case <-ctx.Done():
		t.Fatalf("the script did not finish:\n%s", script)
	}
	if code := s.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("the script exited %d:\n%s\nstdout: %s\nstderr: %s", code, script, s.out(), s.errOut())
	}
	return s.out(), s.errOut()
}
