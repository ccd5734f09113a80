package cli

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/podidentity/podidentity/internal/testenv"
)

// The banner names the program as the user can run it again: a binary
// `go run` built lives in a go-build directory deleted on exit.
func TestInvokedAs(t *testing.T) {
	for _, tc := range []struct{ arg0, want string }{
		{"/tmp/go-build2318273/b001/exe/podidentity", "go run ./cmd/podidentity"},
		{"/root/.cache/gotmp/go-build99/b001/exe/podidentity", "go run ./cmd/podidentity"},
		{"podidentity", "podidentity"},
		{"bin/podidentity", "bin/podidentity"},
		{"/usr/local/bin/podidentity", "/usr/local/bin/podidentity"},
		{"/opt/my tools/podidentity", `'/opt/my tools/podidentity'`},
		{"/opt/it's/podidentity", `'/opt/it'\''s/podidentity'`},
		{"/home/u/exe/podidentity", "/home/u/exe/podidentity"},
		{"", "podidentity"},
	} {
		if got := invokedAs(tc.arg0); got != tc.want {
			t.Errorf("invokedAs(%q) = %s, want %s", tc.arg0, got, tc.want)
		}
	}
}

// The dev banner goes to the log stream (stderr), so that stdout carries
// only the line saying where the server listens.
func TestDevBannerGoesWithTheLogs(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr testenv.Output
	done := make(chan int)
	go func() {
		done <- Run(ctx, []string{"server", "--dev", "--listen", "127.0.0.1:0"}, &stdout, &stderr)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(stderr.String(), "get-caller-identity") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("server --dev exited %d:\n%s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "TOKEN=$(") || !strings.Contains(stderr.String(), " token --endpoint http://127.0.0.1:") {
		t.Errorf("stderr lacks the dev banner's token command:\n%s", stderr.String())
	}
	if out := stdout.String(); strings.Contains(out, "TOKEN") || !strings.HasPrefix(out, "podidentity server listening on http://127.0.0.1:") {
		t.Errorf("stdout = %q, want only the listening line", out)
	}
}
