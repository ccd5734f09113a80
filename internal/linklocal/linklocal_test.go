package linklocal

import (
	"encoding/json"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/podidentity/podidentity/internal/testenv"
)

var agentAddrs = []netip.Addr{netip.MustParseAddr("169.254.170.23"), netip.MustParseAddr("fd00:ec2::23")}

// The test runs Setup in a network namespace of its own (the test binary
// re-executed with CLONE_NEWNET), so the machine's interfaces are never
// touched.
const inNetnsEnv = "LINKLOCAL_TEST_IN_NETNS"

func TestMain(m *testing.M) {
	if os.Getenv(inNetnsEnv) == "1" {
		os.Exit(inNetns())
	}
	os.Exit(m.Run())
}

type report struct {
	First, Second Result
	Bound         []string
	Left          []string
	Err           string
}

func inNetns() int {
	var r report
	defer func() { json.NewEncoder(os.Stdout).Encode(r) }()
	var err error
	if r.First, err = Setup(DefaultInterface, agentAddrs); err != nil {
		r.Err = err.Error()
		return 0
	}
	if r.Second, err = Setup(DefaultInterface, agentAddrs); err != nil {
		r.Err = "second run: " + err.Error()
		return 0
	}
	// Bindable at once: the agent starts right after the init container.
	for _, a := range r.First.Added {
		ln, err := net.Listen("tcp", netip.AddrPortFrom(a, 0).String())
		if err != nil {
			r.Err = err.Error()
			return 0
		}
		r.Bound = append(r.Bound, a.String())
		ln.Close()
	}
	if err := Remove(DefaultInterface, agentAddrs); err != nil {
		r.Err = "remove: " + err.Error()
		return 0
	}
	addrs, _ := netlink.AddrList(nil, netlink.FAMILY_ALL)
	for _, a := range addrs {
		for _, want := range agentAddrs {
			if a.IP.Equal(want.AsSlice()) {
				r.Left = append(r.Left, a.String())
			}
		}
	}
	return 0
}

func TestSetupPutsTheAgentAddressesOnTheNode(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Missing(t, "root, to create a network namespace")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), inNetnsEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("the test in a network namespace: %v\n%s", err, out)
	}
	var r report
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if r.Err != "" {
		t.Fatal(r.Err)
	}
	t.Logf("addresses on %s; notes: %s", r.First.Interface, strings.Join(r.First.Notes, "; "))
	if r.First.Interface != DefaultInterface && r.First.Interface != "lo" {
		t.Errorf("addresses went on %q", r.First.Interface)
	}
	if r.First.Interface == "lo" && len(r.First.Notes) == 0 {
		t.Error("fell back to lo without saying why")
	}
	if len(r.First.Added) == 0 || r.First.Added[0] != agentAddrs[0] {
		t.Errorf("added %v; want at least %s", r.First.Added, agentAddrs[0])
	}
	if len(r.Second.Added) != len(r.First.Added) {
		t.Errorf("a second run added %v, the first %v: not idempotent", r.Second.Added, r.First.Added)
	}
	if len(r.Bound) != len(r.First.Added) {
		t.Errorf("bound %v of %v right after setup", r.Bound, r.First.Added)
	}
	if len(r.Left) > 0 {
		t.Errorf("Remove left %v", r.Left)
	}
}
