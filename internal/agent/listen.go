package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"syscall"
	"time"
)

// listenCredentials binds port on every host. A node without IPv6 (disabled
// by sysctl or at boot, or without the agent's IPv6 address) serves on the
// rest with a warning rather than crash-looping; a port in use or any other
// failure is an error that names the port and host.
func listenCredentials(ctx context.Context, hosts []string, port int, log *slog.Logger) ([]net.Listener, error) {
	var (
		lns     []net.Listener
		skipped []string
	)
	closeAll := func() {
		for _, ln := range lns {
			ln.Close()
		}
	}
	for _, host := range hosts {
		ln, err := listenTCP(ctx, host, port)
		if err != nil && isIPv6(host) && errors.Is(err, syscall.EADDRNOTAVAIL) && assigned(host) {
			ln, err = listenTentative(ctx, host, port, tentativeWait)
		}
		if err == nil {
			lns = append(lns, ln)
			continue
		}
		if isIPv6(host) && ipv6Unavailable(err) {
			log.Warn("not serving on "+host+": IPv6 is disabled on this node or the address is not assigned; pods reach the agent over IPv4",
				"host", host, "port", port, "err", err)
			skipped = append(skipped, host)
			continue
		}
		closeAll()
		return nil, listenError("the credential endpoint", host, port, "--port", err)
	}
	if len(lns) == 0 {
		return nil, fmt.Errorf("no address to serve credentials on: %v could not be bound (IPv6 unavailable)", skipped)
	}
	return lns, nil
}

// tentativeWait bounds the wait for an IPv6 address that was just added:
// duplicate address detection keeps it "tentative", unbindable, for about a
// second (longer with retransmissions).
const tentativeWait = 5 * time.Second

// listenTentative retries binding an IPv6 address that is not assignable yet
// until it is or wait runs out.
func listenTentative(ctx context.Context, host string, port int, wait time.Duration) (net.Listener, error) {
	deadline := time.Now().Add(wait)
	for {
		ln, err := listenTCP(ctx, host, port)
		if err == nil || !errors.Is(err, syscall.EADDRNOTAVAIL) || time.Now().After(deadline) {
			return ln, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// assigned reports whether host is on one of the node's interfaces, even
// if not bindable yet: only then is it worth waiting for.
func assigned(host string) bool {
	want, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr() == want {
			return true
		}
	}
	return false
}

// listenTCP binds host:port; IPv6 addresses are bound IPv6-only so that
// a dual-stack socket cannot claim the IPv4 side.
func listenTCP(ctx context.Context, host string, port int) (net.Listener, error) {
	network := "tcp"
	if a, err := netip.ParseAddr(host); err == nil {
		network = "tcp4"
		if a.Is6() && !a.Is4In6() {
			network = "tcp6"
		}
	}
	var lc net.ListenConfig
	return lc.Listen(ctx, network, net.JoinHostPort(host, strconv.Itoa(port)))
}

// listenError explains a failure to bind in the operator's terms.
func listenError(what, host string, port int, flag string, err error) error {
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return fmt.Errorf("%s: port %d on %s is already in use by another process (a hostNetwork pod such as an ingress controller?); stop it or choose another port with %s: %w",
			what, port, host, flag, err)
	case errors.Is(err, syscall.EACCES):
		return fmt.Errorf("%s: binding port %d on %s needs root or CAP_NET_BIND_SERVICE: %w", what, port, host, err)
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return fmt.Errorf("%s: %s is not an address of this node, so port %d cannot be bound on it; add it to an interface (ip addr add %s dev lo) or change --bind-hosts: %w",
			what, host, port, hostPrefix(host), err)
	}
	return fmt.Errorf("%s: cannot listen on port %d of %s: %w", what, port, host, err)
}

func hostPrefix(host string) string {
	if isIPv6(host) {
		return host + "/128"
	}
	return host + "/32"
}

func isIPv6(host string) bool {
	a, err := netip.ParseAddr(host)
	return err == nil && a.Is6() && !a.Is4In6()
}

// ipv6Unavailable: the kernel has no IPv6 (EAFNOSUPPORT, EPROTONOSUPPORT),
// or IPv6 is disabled or the address is not configured (EADDRNOTAVAIL).
func ipv6Unavailable(err error) bool {
	return errors.Is(err, syscall.EAFNOSUPPORT) || errors.Is(err, syscall.EPROTONOSUPPORT) ||
		errors.Is(err, syscall.EADDRNOTAVAIL)
}
