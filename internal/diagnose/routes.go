package diagnose

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/ndproxy/ndproxy/internal/config"
)

func (r Route) String() string {
	var b strings.Builder
	if r.Type != "unicast" && r.Type != "" {
		b.WriteString(r.Type + " ")
	}
	if r.Dst.Bits() == 0 {
		b.WriteString("default")
	} else {
		b.WriteString(r.Dst.String())
	}
	if r.Gateway.IsValid() {
		fmt.Fprintf(&b, " via %s", r.Gateway)
	}
	if r.Dev != "" {
		fmt.Fprintf(&b, " dev %s", r.Dev)
	}
	if r.Protocol != "" && r.Protocol != "boot" {
		fmt.Fprintf(&b, " proto %s", r.Protocol)
	}
	fmt.Fprintf(&b, " metric %d", r.Metric)
	return b.String()
}

// lookup is the route the kernel takes for most of prefix q: the longest
// route that covers all of q, the lowest metric among equals (routes
// longer than q catch only part of it). Only the main table is read;
// policy rules are not followed.
func lookup(routes []Route, q netip.Prefix) (Route, bool) {
	var best Route
	found := false
	for _, r := range routes {
		if r.Dst.Bits() > q.Bits() || !r.Dst.Contains(q.Addr()) {
			continue
		}
		if !found || r.Dst.Bits() > best.Dst.Bits() || (r.Dst.Bits() == best.Dst.Bits() && r.Metric < best.Metric) {
			best, found = r, true
		}
	}
	return best, found
}

// routes: a proxied prefix must be routed towards where its hosts live, or
// ndproxy answers for hosts whose packets then go nowhere or back out the
// upstream. The upstream's on-link /64, learned from Router Advertisements
// (metric 256, or 100 and more from NetworkManager), outranks a route added
// by hand (metric 1024) for the same /64: seed 000's island and ndppd#84.
func (c *checker) routes(p config.Proxy) {
	e := c.engines[p.Name]
	if e == nil {
		return // waiting: interfaces() said for what
	}
	up := e.Upstream.Name
	switch p.Route {
	case config.RouteHost:
		c.add("route", OK, "", "proxy %s: ndproxy routes each verified host with a /128 towards the link it was found on, which outranks %s's on-link route", p.Name, up)
		return
	case config.RoutePrefix:
		c.prefixRoutes(p)
		return
	}
	for _, q := range c.prefixes(p) {
		best, ok := lookup(c.s.Routes, q)
		switch {
		case ok && best.Type == "unicast" && best.Dev != up:
			c.add("route", OK, "", "proxy %s: %s is routed by %s", p.Name, q, best)
			continue
		case !ok || best.Type != "unicast":
			how := "no route covers it"
			if ok {
				how = "the route " + best.String() + " drops it"
			}
			c.add("route", Problem, c.routeFix(p, q, 0),
				"proxy %s answers for %s on %s, but %s: the packets for its hosts are dropped here", p.Name, q, up, how)
			continue
		}
		// The best route leads back out the upstream. A route towards a
		// downstream that loses to it is shadowed.
		var lost []Route
		for _, r := range c.s.Routes {
			if r.Dev != up && r.Type == "unicast" && r.Dst.Bits() <= q.Bits() && r.Dst.Contains(q.Addr()) && r.Dst.Bits() > 0 {
				lost = append(lost, r)
			}
		}
		metric := 0
		if best.Dst == q {
			metric = max(best.Metric-1, 1)
		}
		if len(lost) > 0 {
			why := "it is longer"
			if best.Dst.Bits() == lost[0].Dst.Bits() {
				why = "its metric is lower"
				if best.Metric == lost[0].Metric {
					why = "its metric is the same, and the kernel picks either"
				}
			}
			c.add("route", Problem, c.routeFix(p, q, metric),
				"proxy %s: the route %s shadows %s (%s), so packets for the hosts of %s go back out %s instead of to them",
				p.Name, best, lost[0], why, q, up)
			continue
		}
		c.add("route", Problem, c.routeFix(p, q, metric),
			"proxy %s answers for %s on %s, but nothing routes %s elsewhere: its packets follow %s back out %s",
			p.Name, q, up, q, best, up)
	}
}

// routeFix says how to route q towards p's downstream: let ndproxy do it,
// or add the route by hand with metric (0: the kernel's default).
func (c *checker) routeFix(p config.Proxy, q netip.Prefix, metric int) string {
	if len(p.Downstream) == 0 {
		return fmt.Sprintf("route %s towards where its hosts are: ip -6 route add %s dev DEVICE (or via a gateway)", q, q)
	}
	var fixes []string
	switch {
	case p.Verify != config.VerifyStatic:
		fixes = append(fixes, "let ndproxy route each host it verifies: "+c.optionFix(p, "route", "host"))
	case len(p.Downstream) == 1:
		fixes = append(fixes, "let ndproxy route the prefix: "+c.optionFix(p, "route", "prefix"))
	}
	m := ""
	if metric > 0 {
		m = fmt.Sprintf(" metric %d", metric)
	}
	fixes = append(fixes, fmt.Sprintf("or route it yourself: ip -6 route add %s dev %s%s", q, c.device(p.Downstream[0]), m))
	return strings.Join(fixes, "; ")
}

// optionFix is the fix that sets an option of p's section.
func (c *checker) optionFix(p config.Proxy, option, value string) string {
	return fmt.Sprintf("set option %s '%s' in section %s of %s, then reload ndproxy", option, value, p.Name, c.path)
}

// prefixRoutes: with route 'prefix' ndproxy installs each prefix towards the
// downstream with route_metric; a route of the same prefix on another link
// with a metric as low or lower wins, or ties, and takes the packets.
func (c *checker) prefixRoutes(p config.Proxy) {
	down := c.device(p.Downstream[0])
	for _, q := range c.prefixes(p) {
		var rival *Route
		for i, r := range c.s.Routes {
			if r.Dst == q && r.Dev != down && r.Type == "unicast" && r.Protocol != "ndproxy" && r.Metric <= p.RouteMetric {
				if rival == nil || r.Metric < rival.Metric {
					rival = &c.s.Routes[i]
				}
			}
		}
		if rival == nil {
			c.add("route", OK, "", "proxy %s: ndproxy routes %s to %s with metric %d, which no other route of it beats", p.Name, q, down, p.RouteMetric)
			continue
		}
		fix := fmt.Sprintf("lower the metric of ndproxy's route below %d: %s", rival.Metric,
			c.optionFix(p, "route_metric", fmt.Sprint(max(rival.Metric-1, 1))))
		if rival.Metric <= 1 {
			fix = fmt.Sprintf("remove the other route: ip -6 route del %s", rival)
		}
		c.add("route", Problem, fix,
			"proxy %s: the route %s is as good as or better than the one ndproxy installs (%s dev %s metric %d), so packets for the hosts of %s can go out %s instead",
			p.Name, rival, q, down, p.RouteMetric, q, rival.Dev)
	}
}

// defaultRoutes: a default router outside every prefix of the upstream is
// reachable only through a route that says it is on-link (seed 002: the
// provider's gateway sits in another /64 of the same /48). Without it the
// kernel refuses to add the default route again after the link went down,
// or at boot ("Nexthop has invalid gateway"). A gateway inside a proxied
// prefix is worse: the prefix's routes take its packets elsewhere.
func (c *checker) defaultRoutes() {
	var defaults []Route
	for _, r := range c.s.Routes {
		if r.Dst.Bits() == 0 && r.Type == "unicast" {
			defaults = append(defaults, r)
		}
	}
	if len(defaults) == 0 {
		if len(c.upstreams) > 0 {
			c.add("gateway", Note, "",
				"this host has no IPv6 default route: the proxied hosts reach the upstream link but nothing beyond it")
		}
		return
	}
	for _, d := range defaults {
		if !slices.Contains(c.upstreams, d.Dev) {
			continue
		}
		g := d.Gateway
		switch {
		case !g.IsValid():
			c.add("gateway", OK, "", "the default route %s has no gateway", d)
			continue
		case g.IsLinkLocalUnicast():
			c.add("gateway", OK, "", "the default route %s goes via a link-local gateway", d)
			continue
		}
		for _, p := range c.cfg.Proxies {
			for _, q := range c.prefixes(p) {
				if q.Contains(g) && c.device(p.Upstream) == d.Dev {
					c.add("gateway", Problem,
						fmt.Sprintf("proxy only the addresses your provider routes to you, without %s: change the prefix of section %s (seed 002: the allocation is another /64 than the gateway's)", g, p.Name),
						"the default gateway %s is inside %s, which proxy %s proxies on %s: ndproxy may answer for the gateway's own address there, and routes of %s towards the downstream take the packets meant for it",
						g, q, p.Name, d.Dev, q)
				}
			}
		}
		if d.OnLink {
			c.add("gateway", OK, "", "the default route %s declares its gateway on-link", d)
			continue
		}
		if c.onLink(g, d.Dev) {
			c.add("gateway", OK, "", "the default gateway %s is on-link on %s", g, d.Dev)
			continue
		}
		c.add("gateway", Problem,
			fmt.Sprintf("ip -6 route add %s dev %s, and add it where %s is configured so that it comes before the default route (ifupdown: an up line before the gateway; systemd-networkd: GatewayOnLink=yes)", g, d.Dev, d.Dev),
			"the default route goes via %s on %s, but %s is outside every prefix of %s and no route says it is on-link there (the gateway sits in another /64): the kernel refuses to add this default route again after %s goes down or at boot (\"Nexthop has invalid gateway\")",
			g, d.Dev, g, d.Dev, d.Dev)
	}
}

// onLink reports whether the kernel's route to g leads straight to dev,
// without a gateway: what it checks when a route via g is added
// (ip6_validate_gw()).
func (c *checker) onLink(g netip.Addr, dev string) bool {
	r, ok := lookup(c.s.Routes, netip.PrefixFrom(g, 128))
	return ok && r.Type == "unicast" && r.Dev == dev && !r.Gateway.IsValid() && r.Dst.Bits() > 0
}
