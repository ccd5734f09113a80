package cli

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// commandPaths are every command a user can run, as they type it.
var commandPaths = [][]string{
	{"server"}, {"token"}, {"agent"}, {"agent", "server"}, {"agent", "initialize"}, {"webhook"},
	{"doctor"}, {"migrate"}, {"export"}, {"import"}, {"version"},
}

// requiredFlags are the flags whose help says "(required)".
var requiredFlags = map[string][]string{
	"token":        {"service-account"},
	"agent":        {"cluster-name"},
	"agent server": {"cluster-name"},
	"webhook":      {"tls-cert-file", "tls-key-file", "endpoint", "cluster-name"},
	"doctor":       {"namespace", "endpoint"},
	"migrate":      {"from", "to"},
}

// findCommand is the cobra command at path, to list its flags.
func findCommand(t *testing.T, path []string) *cobra.Command {
	t.Helper()
	cmd, _, err := newRootCommand(nil, nil).Find(path)
	if err != nil {
		t.Fatal(err)
	}
	return cmd
}

func TestHelpExitsZeroOnStdout(t *testing.T) {
	for _, path := range commandPaths {
		name := strings.Join(path, " ")
		cmd := findCommand(t, path)
		for _, help := range []string{"--help", "-h"} {
			t.Run(name+" "+help, func(t *testing.T) {
				stdout, stderr, code := run(t, append(path, help)...)
				if code != 0 || stderr != "" {
					t.Fatalf("exit %d, stderr %q", code, stderr)
				}
				if !strings.Contains(stdout, cmd.Short) || strings.Contains(cmd.Short, "\n") {
					t.Errorf("no one-line description %q in:\n%s", cmd.Short, stdout)
				}
				if !strings.Contains(stdout, "Examples:\n  podidentity "+path[0]) {
					t.Errorf("no example in:\n%s", stdout)
				}
				cmd.Flags().VisitAll(func(f *pflag.Flag) {
					if !strings.Contains(stdout, "--"+f.Name+" ") {
						t.Errorf("flag --%s is not shown in --double-dash form in:\n%s", f.Name, stdout)
					}
				})
				_, flags, _ := strings.Cut(stdout, "\nFlags:\n")
				for _, req := range requiredFlags[name] {
					line := lineWith(flags, "--"+req+" ")
					if !strings.Contains(line, "(required)") {
						t.Errorf("--%s is not marked (required): %q", req, line)
					}
				}
			})
		}
	}
}

func lineWith(text, s string) string {
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}

func TestHelpSubcommand(t *testing.T) {
	for _, path := range commandPaths {
		t.Run(strings.Join(path, " "), func(t *testing.T) {
			want, _, _ := run(t, append(path, "--help")...)
			got, stderr, code := run(t, append([]string{"help"}, path...)...)
			if code != 0 || stderr != "" {
				t.Fatalf("exit %d, stderr %q", code, stderr)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("help %s differs from --help (-want +got):\n%s", path, diff)
			}
		})
	}
	// help alone is --help: every command, and the --version flag.
	out, _, code := run(t, "help")
	for _, path := range commandPaths {
		if code != 0 || !strings.Contains(out, "\n  "+path[0]+" ") {
			t.Errorf("help (exit %d) does not list %s:\n%s", code, path[0], out)
		}
	}
	if want, _, _ := run(t, "--help"); out != want {
		t.Errorf("help differs from --help:\n%s", cmp.Diff(want, out))
	}
}

func TestVersionFlags(t *testing.T) {
	want, _, code := run(t, "version")
	if code != 0 || !strings.HasPrefix(want, "podidentity "+version()+"\n") {
		t.Fatalf("version: exit %d, %q", code, want)
	}
	for _, flag := range []string{"--version", "-v"} {
		if got, stderr, code := run(t, flag); code != 0 || got != want {
			t.Errorf("%s: exit %d, %q %q; want %q", flag, code, got, stderr, want)
		}
	}
}

func TestCompletion(t *testing.T) {
	for shell, marker := range map[string]string{
		"bash": "__start_podidentity",
		"zsh":  "#compdef podidentity",
		"fish": "complete -c podidentity",
	} {
		t.Run(shell, func(t *testing.T) {
			out, stderr, code := run(t, "completion", shell)
			if code != 0 || !strings.Contains(out, marker) {
				t.Fatalf("exit %d, stderr %q, script without %q:\n%.300s", code, stderr, marker, out)
			}
			if sh, err := exec.LookPath(shell); err == nil {
				// The shell itself reads the script without a syntax error.
				check := exec.Command(sh, "-n")
				check.Stdin = strings.NewReader(out)
				if b, err := check.CombinedOutput(); err != nil {
					t.Errorf("%s -n: %v\n%s", shell, err, b)
				}
			}
		})
	}
	// help completes command names, as cobra's own help does.
	for args, want := range map[string]string{"help se": "server\t", "help agent i": "initialize\t"} {
		out, _, code := run(t, append([]string{"__complete"}, strings.Fields(args)...)...)
		if code != 0 || !strings.Contains(out, want) || strings.Contains(out, "token\t") {
			t.Errorf("__complete %s: exit %d\n%s", args, code, out)
		}
	}
	// The scripts ask the binary; it answers with a command's flags.
	out, _, code := run(t, "__complete", "token", "--")
	if code != 0 || !strings.Contains(out, "--service-account") || !strings.Contains(out, "--audience") {
		t.Errorf("__complete token --: exit %d\n%s", code, out)
	}
}

func TestUsageErrorsExitTwo(t *testing.T) {
	tests := [][]string{
		{"bogus"},
		{"--bogus"},
		{"server", "extra"},
		{"server", "--bogus"},
		{"server", "--dev", "--config", "x.yaml"},
		{"server", "--dev=maybe"},
		{"token"},
		{"help", "nosuch"},
		{"help", "agent", "nosuch"},
		{"token", "--key", "x", "--service-account", "app"},
		{"token", "--service-account", "app", "--ttl", "soon"},
		{"token", "--service-account", "app", "extra"},
		{"agent", "--port", "80"},
		{"agent", "-c", "demo", "--port", "70000"},
		{"agent", "-c", "demo", "-v", "loud"},
		{"agent", "server", "-c", "demo", "--port", "eighty"},
		{"agent", "-c", "demo", "extra"},
		{"agent", "initialize", "--bind-hosts", "not-an-ip"},
		{"agent", "initialize", "extra"},
		{"webhook"},
		{"webhook", "--port", "x"},
		{"doctor", "--pod", "p"},
		{"migrate"},
		{"migrate", "--from", "memory", "--to", "sqlite:///x.db"},
		{"export"},
		{"export", "--storage", "memory"},
		{"import", "--storage", "sqlite:///x.db", "--config", "x.yaml"},
		{"version", "extra"},
		{"completion", "tcsh"},
	}
	for _, args := range tests {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			stdout, stderr, code := run(t, args...)
			if code != 2 || !strings.HasPrefix(stderr, "podidentity") || stdout != "" ||
				!strings.HasSuffix(stderr, " --help' for usage.\n") {
				t.Errorf("exit %d, stdout %q, stderr %q; want 2 and a message on stderr", code, stdout, stderr)
			}
		})
	}
}

// The spellings users, charts and docs already use keep working: single-
// dash long flags (Go's flag package took them), key/value booleans (the
// AWS agent's charts), values that start with a dash.
func TestNormalizeArgs(t *testing.T) {
	tests := []struct{ args, want []string }{
		{[]string{"server", "-config", "f.yaml", "-listen=:1"}, []string{"server", "--config", "f.yaml", "--listen=:1"}},
		{[]string{"server", "-dev", "true"}, []string{"server", "--dev=true"}},
		{[]string{"agent", "-c", "demo", "-v", "debug", "-rotate-credentials", "true"}, []string{"agent", "-c", "demo", "-v", "debug", "--rotate-credentials=true"}},
		{[]string{"agent", "server", "--check-pods", "false", "-p", "80"}, []string{"agent", "server", "--check-pods=false", "-p", "80"}},
		{[]string{"token", "--namespace", "-dev", "--service-account", "a"}, []string{"token", "--namespace", "-dev", "--service-account", "a"}},
		{[]string{"token", "--", "-key"}, []string{"token", "--", "-key"}},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		if diff := cmp.Diff(tt.want, normalizeArgs(newRootCommand(&out, &out), tt.args)); diff != "" {
			t.Errorf("normalizeArgs(%q) (-want +got):\n%s", tt.args, diff)
		}
	}
}

func TestNoArgumentsPrintsUsage(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := Run(context.Background(), nil, &stdout, &stderr); code != 2 || stdout.Len() != 0 ||
		!strings.Contains(stderr.String(), "completion") || !strings.Contains(stderr.String(), "token") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
	}
}
