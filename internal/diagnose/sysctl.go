package diagnose

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/ndproxy/ndproxy/internal/kernel"
)

// acceptRA: with forwarding on, the kernel ignores Router Advertisements on
// an interface unless its own accept_ra is 2 (net/ipv6/ndisc.c, accept_ra());
// net.ipv6.conf.all.accept_ra is a plain value that no interface reads.
// Seed 004 lost its default route this way.
//
// ndproxy sets accept_ra=2 on the upstream before it turns forwarding on and
// restores both on exit, so forwarding with accept_ra=1 is a problem of the
// host as it is now: forwarding turned on without ndproxy (sysctl.conf,
// another service), or something that set accept_ra back while it runs.
func (c *checker) acceptRA(up string) {
	key := kernel.IPv6Conf(up, "accept_ra")
	ra, fwd := c.sysctl(key), c.conf(up, "forwarding")
	allRA := c.conf("all", "accept_ra")
	switch {
	case ra == "":
		return
	case ra == "0":
		c.add("accept_ra", OK, "",
			"the kernel does not process router advertisements on %s (accept_ra=0): its addresses and routes are static, or a network manager handles the advertisements itself (NetworkManager and systemd-networkd do)", up)
		return
	case ra == "2":
		c.add("accept_ra", OK, "", "%s takes router advertisements also while forwarding (accept_ra=2)", up)
		return
	case fwd != "1":
		c.add("accept_ra", OK, "",
			"%s takes router advertisements while it does not forward (accept_ra=%s); ndproxy sets accept_ra=2 before it turns forwarding on", up, ra)
		return
	}

	usesRA := false
	if l, ok := c.link(up); ok {
		for _, a := range l.Addrs {
			usesRA = usesRA || (a.Dynamic && !a.Prefix.Addr().IsLinkLocalUnicast())
		}
	}
	var defaults []Route
	for _, r := range c.s.Routes {
		usesRA = usesRA || (r.Dev == up && r.Protocol == "ra")
		if r.Dst.Bits() == 0 && r.Type == "unicast" {
			defaults = append(defaults, r)
		}
	}
	if !usesRA && len(defaults) > 0 {
		c.add("accept_ra", OK, "",
			"%s forwards and ignores router advertisements (accept_ra=%s), but nothing on it comes from them: its addresses are static and the default route was set by hand", up, ra)
		return
	}

	var b strings.Builder
	fmt.Fprintf(&b, "%s forwards IPv6 and has accept_ra=%s, so the kernel ignores the router advertisements on it: this host loses its default route and its SLAAC addresses on %s when they expire", up, ra, up)
	if len(defaults) == 0 {
		b.WriteString(" (it has no default route now)")
	}
	b.WriteString(".")
	if allRA == "2" {
		b.WriteString(" net.ipv6.conf.all.accept_ra=2 does not help: the kernel reads only the interface's own value.")
	}
	if c.s.Daemon != nil {
		b.WriteString(" ndproxy sets accept_ra=2 while it runs: something set it back.")
	} else {
		b.WriteString(" ndproxy sets accept_ra=2 itself while it runs, but forwarding is on without it and stays on when it stops.")
	}
	c.add("accept_ra", Problem, setSysctl(key, "2"), "%s", b.String())
}

// kernelProxy looks at the kernel's own proxy entries on an upstream.
// ndproxy answers solicitations itself, from userspace, so proxy_ndp and
// proxy_delay matter only for entries someone else made (ndppd, a script, a
// setup done by hand before ndproxy). For those the kernel answers multicast
// solicitations only after a random delay of up to proxy_delay (0.8 s by
// default), and unicast ones (the router's reachability probes) only with
// net.ipv6.conf.all.proxy_ndp=1 (net/ipv6/ip6_output.c, ip6_forward()):
// without it the router loses the hosts every few minutes (ndppd#6).
func (c *checker) kernelProxy(up string) {
	var addrs []netip.Addr
	for _, e := range c.s.ProxyEntries {
		if e.Dev == up {
			addrs = append(addrs, e.Addr)
		}
	}
	if len(addrs) == 0 {
		c.add("proxy_ndp", OK, "",
			"%s has no kernel proxy entries (ip -6 neigh show proxy): proxy_ndp and proxy_delay do not matter, ndproxy answers from userspace", up)
		return
	}
	slices.SortFunc(addrs, netip.Addr.Compare)
	list := addrs[0].String()
	if len(addrs) > 1 {
		list = fmt.Sprintf("%d of them, %s first", len(addrs), addrs[0])
	}
	what := fmt.Sprintf("%s has kernel proxy entries (ip -6 neigh show proxy dev %s: %s), someone else's or left over from an earlier setup; ndproxy does not need them", up, up, list)
	del := fmt.Sprintf("ip -6 neigh del proxy %s dev %s", addrs[0], up)
	if len(addrs) > 1 {
		del = fmt.Sprintf("ip -6 neigh del proxy ADDRESS dev %s for each of them", up)
	}

	// Entries inside what ndproxy proxies on this upstream: two answerers.
	var both []netip.Addr
	for _, p := range c.cfg.Proxies {
		if c.device(p.Upstream) != up {
			continue
		}
		for _, a := range addrs {
			for _, q := range c.prefixes(p) {
				if q.Contains(a) && !slices.Contains(both, a) {
					both = append(both, a)
				}
			}
		}
	}
	if len(both) > 0 {
		c.add("kernel_proxy", Note, "if ndproxy is to answer for them: "+del,
			"%s. The kernel answers for %s on %s itself, whether the host is there or not, and ndproxy answers too once it has verified the host",
			what, both[0], up)
	}

	allNDP, ndp := c.conf("all", "proxy_ndp"), c.conf(up, "proxy_ndp")
	switch {
	case allNDP == "1":
		c.add("proxy_ndp", OK, "", "%s; net.ipv6.conf.all.proxy_ndp=1, so the kernel answers unicast solicitations for them too", what)
	case ndp == "1":
		c.add("proxy_ndp", Problem,
			setSysctl(kernel.IPv6Conf("all", "proxy_ndp"), "1")+"; or, if ndproxy is to answer for these addresses, remove the entries: "+del,
			"%s. With proxy_ndp on for %s only, the kernel answers multicast solicitations for them but not the unicast ones the router sends to check that they are still reachable: those need net.ipv6.conf.all.proxy_ndp=1, and without it the router loses the hosts every few minutes",
			what, up)
	default:
		c.add("proxy_ndp", Note, "if they are meant to be answered: "+setSysctl(kernel.IPv6Conf("all", "proxy_ndp"), "1")+"; otherwise remove them: "+del,
			"%s. proxy_ndp is off, so the kernel answers for none of them", what)
		return
	}

	key := "net/ipv6/neigh/" + up + "/proxy_delay"
	delay := c.sysctl(key)
	if delay == "" || delay == "0" {
		c.add("proxy_delay", OK, "", "%s: the kernel answers for its proxy entries at once (proxy_delay=0)", up)
		return
	}
	// The file counts USER_HZ ticks, hundredths of a second.
	d := delay
	if n, err := strconv.Atoi(delay); err == nil {
		d = fmt.Sprintf("%g s", float64(n)/100)
	}
	dflt := ""
	if delay == "80" {
		dflt = ", the default"
	}
	c.add("proxy_delay", Problem, setSysctl(key, "0"),
		"%s. The kernel waits a random time of up to proxy_delay (%s%s) before it answers a multicast solicitation for them, and askers give up or retry meanwhile",
		what, d, dflt)
}
