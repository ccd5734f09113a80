// Package testenv serves tests that run outside tools and processes
// (python3 with boto3, the AWS CLI, moto_server, PostgreSQL, a
// kube-apiserver, our own binary): they skip with a clear message on a
// developer laptop that lacks a tool, and fail in CI, where
// PODIDENTITY_REQUIRE_E2E=1 says every such tool must be present;
// Output collects a process's output while the test reads it; Clock is
// the one fake clock every package's tests move by hand; and TLSServer is
// an HTTPS server with its CA bundle in a file.
package testenv

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// RequireEnv is the variable that turns missing-tool skips into failures.
const RequireEnv = "PODIDENTITY_REQUIRE_E2E"

// Required reports whether missing tools must fail the test run.
func Required() bool {
	v := os.Getenv(RequireEnv)
	return v != "" && v != "0" && v != "false"
}

// Missing skips t, or fails it when tools are required, saying what is missing.
func Missing(t testing.TB, what string) {
	t.Helper()
	if Required() {
		t.Fatalf("%s is required (%s is set) but missing", what, RequireEnv)
	}
	t.Skipf("skipping: %s is missing (set %s=1 to make this a failure)", what, RequireEnv)
}

// LookPath returns the path of an executable, or skips/fails t.
func LookPath(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, name)
	}
	return p
}

// Python returns the path of python3 after checking that it can import
// every module named, or skips/fails t.
func Python(t testing.TB, modules ...string) string {
	t.Helper()
	py := LookPath(t, "python3")
	if len(modules) > 0 {
		src := "import " + strings.Join(modules, ", ")
		if out, err := exec.Command(py, "-c", src).CombinedOutput(); err != nil {
			Missing(t, "python3 modules "+strings.Join(modules, ", ")+" ("+strings.TrimSpace(string(out))+")")
		}
	}
	return py
}
