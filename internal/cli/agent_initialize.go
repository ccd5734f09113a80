package cli

import (
	"flag"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/podidentity/podidentity/internal/agent"
	"github.com/podidentity/podidentity/internal/linklocal"
)

// runAgentInitialize is `podidentity agent initialize`, the agent's init
// container, as the AWS agent's `initialize`: it puts the addresses the agent
// serves on (--bind-hosts) on the node. --remove undoes it when the agent
// leaves a node for good.
func runAgentInitialize(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("podidentity agent initialize", flag.ContinueOnError)
	fs.SetOutput(stderr)
	bindHosts := hostList{hosts: agent.DefaultBindHosts}
	fs.Var(&bindHosts, "bind-hosts", "the addresses the agent serves on, comma-separated or repeated")
	fs.Var(&bindHosts, "b", "shorthand for --bind-hosts")
	iface := fs.String("interface", linklocal.DefaultInterface, "the dummy interface to put them on")
	remove := fs.Bool("remove", false, "take the addresses off the node and delete the interface instead")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var addrs []netip.Addr
	for _, h := range bindHosts.hosts {
		a, err := netip.ParseAddr(strings.Trim(h, "[]"))
		if err != nil {
			fmt.Fprintf(stderr, "podidentity agent initialize: --bind-hosts %q is not an IP address\n", h)
			return 2
		}
		addrs = append(addrs, a)
	}
	if *remove {
		if err := linklocal.Remove(*iface, addrs); err != nil {
			fmt.Fprintf(stderr, "podidentity agent initialize: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "removed %v and interface %s\n", addrs, *iface)
		return 0
	}
	res, err := linklocal.Setup(*iface, addrs)
	for _, note := range res.Notes {
		fmt.Fprintln(stdout, note)
	}
	if err != nil {
		fmt.Fprintf(stderr, "podidentity agent initialize: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%v on %s\n", res.Added, res.Interface)
	return 0
}
