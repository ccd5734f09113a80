package e2e

import (
	"os/exec"
	"strings"
	"testing"
)

// TestAgentWaitsForATentativeIPv6Address: an IPv6 address added just before
// the agent starts is "tentative" for about a second (duplicate address
// detection) and cannot be bound yet. The agent waits for it instead of
// serving IPv4 alone for the rest of its life, as it did when a node's init
// step added the address without skipping detection.
func TestAgentWaitsForATentativeIPv6Address(t *testing.T) {
	inside, _ := inAgentNetns(t)
	if !inside {
		return
	}
	// lo skips detection; an interface with a link does not.
	if out, err := exec.Command("ip", "link", "add", "pi0", "type", "veth", "peer", "name", "pi1").CombinedOutput(); err != nil {
		t.Skipf("no veth interfaces here (%v: %s); nothing to be tentative on", err, out)
	}
	agentIPCmd(t, "ip", "link", "set", "pi0", "up")
	agentIPCmd(t, "ip", "link", "set", "pi1", "up")
	agentIPCmd(t, "ip", "-6", "addr", "del", agentIPv6+"/128", "dev", "lo")
	agentIPCmd(t, "ip", "-6", "addr", "add", agentIPv6+"/128", "dev", "pi0")
	if out, _ := exec.Command("ip", "-6", "addr", "show", "dev", "pi0").CombinedOutput(); !strings.Contains(string(out), "tentative") {
		t.Skipf("the address is not tentative here:\n%s", out)
	}
	agent := startAgent(t, "--cluster-name", "demo", "--endpoint", "http://127.0.0.1:1")
	want := "http://[" + agentIPv6 + "]:80/v1/credentials"
	found := false
	for _, u := range agent.credURLs {
		found = found || u == want
	}
	if !found {
		t.Errorf("serving on %v, want %s among them:\n%s", agent.credURLs, want, agent.Logs.String())
	}
}
