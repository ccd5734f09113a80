// Package linklocal puts the node agent's link-local addresses
// (169.254.170.23 and fd00:ec2::23) on the node, as the AWS agent's
// `initialize` does, so that pods reach the agent at the address every AWS
// SDK is told to use. It runs in the agent image's init container (one image
// for everything: no busybox to mirror), through netlink rather than the ip
// tool.
package linklocal

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// DefaultInterface is the dummy interface the addresses go on, the AWS
// agent's name for it.
const DefaultInterface = "pod-id-link0"

// Result says where the addresses went and which were skipped, in words an
// operator reads in the init container's log.
type Result struct {
	Interface string
	Added     []netip.Addr
	Notes     []string
}

// Setup puts each address on iface, a dummy interface it creates when
// missing. Where the kernel has no dummy interfaces (no dummy module), the
// addresses go on the loopback interface instead, which the node delivers
// pods' packets to the same way. IPv6 addresses are skipped, not fatal, on
// a node where IPv6 is disabled, and added without duplicate address
// detection so the agent can bind them at once. Safe to run again.
func Setup(iface string, addrs []netip.Addr) (Result, error) {
	res := Result{Interface: iface}
	link, err := netlink.LinkByName(iface)
	if err != nil {
		var notFound netlink.LinkNotFoundError
		if !errors.As(err, &notFound) {
			return res, explain("looking up interface "+iface, err)
		}
		err = netlink.LinkAdd(&netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: iface}})
		switch {
		case err == nil:
			if link, err = netlink.LinkByName(iface); err != nil {
				return res, explain("looking up the new interface "+iface, err)
			}
		case errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EINVAL):
			res.Notes = append(res.Notes, fmt.Sprintf(
				"this node's kernel has no dummy interfaces (load the module with `modprobe dummy` to get %s); the addresses go on lo instead, which serves pods the same",
				iface))
			res.Interface = "lo"
			if link, err = netlink.LinkByName("lo"); err != nil {
				return res, explain("looking up lo", err)
			}
		default:
			return res, explain("creating dummy interface "+iface, err)
		}
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return res, explain("bringing "+res.Interface+" up", err)
	}
	for _, a := range addrs {
		bits, flags := 32, 0
		if a.Is6() {
			if !ipv6Enabled(res.Interface) {
				res.Notes = append(res.Notes, fmt.Sprintf("IPv6 is disabled on this node: not adding %s; the agent serves on IPv4 alone", a))
				continue
			}
			// Without this the address stays "tentative" for a second or
			// two and the agent cannot bind it yet.
			bits, flags = 128, unix.IFA_F_NODAD
		}
		addr := &netlink.Addr{IPNet: &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(bits, bits)}, Flags: flags}
		if err := netlink.AddrReplace(link, addr); err != nil {
			return res, explain(fmt.Sprintf("adding %s to %s", a, res.Interface), err)
		}
		res.Added = append(res.Added, a)
	}
	return res, nil
}

// Remove takes the addresses off iface and lo and deletes iface: what
// uninstalling the agent from a node undoes. Missing pieces are not errors.
func Remove(iface string, addrs []netip.Addr) error {
	for _, name := range []string{iface, "lo"} {
		link, err := netlink.LinkByName(name)
		if err != nil {
			continue
		}
		for _, a := range addrs {
			bits := 32
			if a.Is6() {
				bits = 128
			}
			err := netlink.AddrDel(link, &netlink.Addr{IPNet: &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(bits, bits)}})
			if err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) && !errors.Is(err, unix.ENOENT) {
				return explain(fmt.Sprintf("removing %s from %s", a, name), err)
			}
		}
		if name == iface {
			if err := netlink.LinkDel(link); err != nil {
				return explain("deleting interface "+iface, err)
			}
		}
	}
	return nil
}

func ipv6Enabled(iface string) bool {
	for _, p := range []string{"/proc/sys/net/ipv6/conf/all/disable_ipv6", "/proc/sys/net/ipv6/conf/" + iface + "/disable_ipv6"} {
		b, err := os.ReadFile(p)
		if err != nil || strings.TrimSpace(string(b)) != "0" {
			return false
		}
	}
	return true
}

func explain(what string, err error) error {
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		return fmt.Errorf("%s: %w (the container needs the NET_ADMIN capability and the node's network: hostNetwork)", what, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}
