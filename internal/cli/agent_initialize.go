package cli

import (
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/spf13/cobra"

	"github.com/podidentity/podidentity/internal/agent"
	"github.com/podidentity/podidentity/internal/linklocal"
)

func newAgentInitializeCommand(stdout, stderr io.Writer) *cobra.Command {
	var (
		bindHosts = hostList{hosts: agent.DefaultBindHosts()}
		iface     string
		remove    bool
	)
	cmd := &cobra.Command{
		Use:   "initialize",
		Short: "Put the agent's addresses on the node (its init container)",
		Long: `Put the addresses the agent serves on (--bind-hosts) on the node, on a dummy
interface, as the AWS agent's initialize does; --remove undoes it when the
agent leaves a node for good.`,
		Example: `  podidentity agent initialize --bind-hosts 169.254.170.23,fd00:ec2::23
  podidentity agent initialize --remove`,
		Args: noArgs,
		RunE: func(*cobra.Command, []string) error {
			return exit(runAgentInitialize(bindHosts.hosts, iface, remove, stdout, stderr))
		},
	}
	cmd.Flags().VarP(&bindHosts, "bind-hosts", "b", "the addresses the agent serves on, comma-separated or repeated")
	cmd.Flags().StringVar(&iface, "interface", linklocal.DefaultInterface, "the dummy interface to put them on")
	cmd.Flags().BoolVar(&remove, "remove", false, "take the addresses off the node and delete the interface instead")
	return cmd
}

// runAgentInitialize is `podidentity agent initialize`, the agent's init
// container.
func runAgentInitialize(hosts []string, iface string, remove bool, stdout, stderr io.Writer) int {
	var addrs []netip.Addr
	for _, h := range hosts {
		a, err := netip.ParseAddr(strings.Trim(h, "[]"))
		if err != nil {
			fmt.Fprintf(stderr, "podidentity agent initialize: --bind-hosts %q is not an IP address\n", h)
			return 2
		}
		addrs = append(addrs, a)
	}
	if remove {
		if err := linklocal.Remove(iface, addrs); err != nil {
			fmt.Fprintf(stderr, "podidentity agent initialize: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "removed %v and interface %s\n", addrs, iface)
		return 0
	}
	res, err := linklocal.Setup(iface, addrs)
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
