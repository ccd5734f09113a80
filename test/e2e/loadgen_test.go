package e2e

import (
	"context"
	"strings"
	"testing"
	"time"
)

// The load generators drive the real binaries with the configuration and
// requests users will rerun them with; a change that breaks them (as the
// authorization change once did) must fail here, not in someone's
// benchmark. Bounded: well under a second of load each.
func TestLoadGeneratorsRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for _, tc := range []struct {
		pkg  string
		args []string
		want string
	}{
		{"../../bench/loadgen", []string{"-conns", "4", "-duration", "300ms", "-warmup", "100ms", "-pods", "20"}, "server CPU:"},
		{"../../bench/agentload", []string{"-conns", "4", "-duration", "300ms", "-warmup", "100ms", "-pods", "10"}, "agent CPU:"},
	} {
		out, stderr, err := runCmdEnv(t, ctx, awsEnv(), "go", append([]string{"run", tc.pkg, "-binary", binary}, tc.args...)...)
		if err != nil || !strings.Contains(out, tc.want) || !strings.Contains(out, " 0 failed") {
			t.Errorf("%s: %v\nstdout: %s\nstderr: %s", tc.pkg, err, out, stderr)
		}
	}
}
