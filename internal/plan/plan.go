// Package plan computes, without any I/O, what ndproxy wants the kernel and its
// engines to look like, given the configuration and a snapshot of the world.
package plan

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"

	"github.com/ndproxy/ndproxy/internal/config"
	"github.com/ndproxy/ndproxy/internal/kernel"
	"github.com/ndproxy/ndproxy/internal/world"
)

// Target is a downstream host that a proxy engine has verified.
type Target struct {
	Proxy     string
	Addr      netip.Addr
	LinkIndex int
}

// Desired is the complete state ndproxy wants.
type Desired struct {
	// Sysctls are to be set in this order.
	Sysctls []Sysctl
	// Routes are all the routes ndproxy should own, sorted.
	Routes []world.Route
	// Engines has one entry per proxy section that can run now.
	Engines []Engine
	// Waiting explains, per proxy section that cannot run yet, what it waits for.
	Waiting map[string]string
	// LinkLocals are the derived link-local addresses wanted on WireGuard
	// devices (wireguard.go); Warnings are problems found in the world.
	LinkLocals []world.Addr
	Warnings   []string
}

// Sysctl is one sysctl write.
type Sysctl struct{ Key, Value string }

// Engine is what one proxy engine needs to run.
type Engine struct {
	Proxy config.Proxy
	// Prefixes are the prefixes in force: the configured ones and those taken
	// from the prefix_from interfaces now. From says where each came from.
	Prefixes []netip.Prefix
	From     map[netip.Prefix]string
	Upstream world.Link
	// Source is the upstream address Neighbor Advertisements are sent from:
	// its link-local address (RFC 4861 section 4.4 allows any address of the
	// interface; link-local is what every host accepts).
	Source netip.Addr
	// Downstreams are the configured downstream links that exist and are up.
	Downstreams []world.Link
	// Local lists this host's own addresses inside the prefixes: the kernel
	// answers for them, ndproxy must not.
	Local []netip.Addr
	// Hints are neighbour-cache entries on the downstream links inside the
	// prefixes: hosts the kernel has seen, worth verifying before anyone asks.
	Hints []Hint
	// NoARP holds the indexes of links without neighbour discovery
	// (WireGuard, tun): verify auto takes a route over one as proof.
	NoARP map[int]bool
	// WireGuard are the downstream links that are WireGuard devices: never
	// probed, their peers' allowed-ips are Owned (wireguard.go).
	WireGuard []world.Link
	Owned     []Owned
}

// Hint is a host seen in the kernel's neighbour cache.
type Hint struct {
	Addr      netip.Addr
	LinkIndex int
}

// Contains reports whether ip is inside one of the engine's prefixes.
func (e *Engine) Contains(ip netip.Addr) bool {
	for _, p := range e.Prefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// Compute derives the desired state. It is a pure function of its inputs.
func Compute(cfg *config.Config, w *world.World, targets []Target) *Desired {
	d := &Desired{Waiting: map[string]string{}}
	wireguardLinkLocals(cfg, w, d)
	if len(cfg.Proxies) == 0 {
		return d
	}

	// Sysctls first: accept_ra=2 on every upstream that takes RAs, then
	// forwarding. Order matters, see kernel.Sysctls.
	seen := map[string]bool{}
	for _, p := range cfg.Proxies {
		if seen[p.Upstream] {
			continue
		}
		seen[p.Upstream] = true
		// accept_ra=1 means "only while not forwarding": once forwarding is on
		// the upstream would stop taking RAs and lose its default route and
		// SLAAC address (net/ipv6/ndisc.c, accept_ra()). "all.accept_ra" does
		// not reach existing interfaces, so it is set per interface.
		key := kernel.IPv6Conf(p.Upstream, "accept_ra")
		if w.Sysctls[key] == "1" {
			d.Sysctls = append(d.Sysctls, Sysctl{key, "2"})
		}
	}
	// IPv6 forwarding between interfaces is decided by all.forwarding alone
	// (net/ipv6/ip6_output.c, ip6_forward()); writing it also sets every
	// interface's forwarding, which the kernel needs to answer as a router.
	d.Sysctls = append(d.Sysctls, Sysctl{kernel.IPv6Conf("all", "forwarding"), "1"})

	for _, p := range cfg.Proxies {
		e, why := engineFor(p, w)
		if why != "" {
			d.Waiting[p.Name] = why
			continue
		}
		wireguardTargets(cfg, w, &e)
		d.Engines = append(d.Engines, e)
		d.Routes = append(d.Routes, routesFor(&e, targets)...)
		d.Routes = append(d.Routes, wireguardRoutes(w, &e)...)
	}
	slices.SortFunc(d.Routes, compareRoutes)
	d.Routes = slices.Compact(d.Routes)
	return d
}

// resolve finds the link behind name: a logical interface netifd knows is
// mapped to its L3 device, any other name is a device.
func resolve(w *world.World, role, name string) (world.Link, string) {
	dev := name
	if l, ok := w.LogicalByName(name); ok {
		if !l.Up || l.Device == "" {
			return world.Link{}, fmt.Sprintf("%s interface %s is down", role, name)
		}
		dev = l.Device
	}
	link, ok := w.LinkByName(dev)
	switch {
	case !ok:
		return world.Link{}, fmt.Sprintf("%s %s does not exist", role, dev)
	case !link.Up:
		return world.Link{}, fmt.Sprintf("%s %s is down", role, dev)
	}
	return link, ""
}

// prefixesOf returns the on-link prefixes of interface name (the prefix of
// each address of length 64 to 127) and its delegated prefixes of /64 or
// longer: shorter ones cannot be on a link, so there is nothing to proxy.
func prefixesOf(w *world.World, name string) (onlink, delegated []netip.Prefix) {
	var addrs []netip.Prefix
	if l, ok := w.LogicalByName(name); ok {
		if !l.Up {
			return nil, nil
		}
		addrs = l.Addrs
		for _, d := range l.Delegated {
			if d.Bits() >= 64 {
				delegated = append(delegated, d.Masked())
			}
		}
	} else if link, ok := w.LinkByName(name); ok {
		for _, a := range w.AddrsOf(link.Index) {
			addrs = append(addrs, a.Prefix)
		}
	}
	for _, a := range addrs {
		if a.Addr().IsGlobalUnicast() && !a.Addr().IsLinkLocalUnicast() && a.Bits() >= 64 && a.Bits() < 128 {
			onlink = append(onlink, a.Masked())
		}
	}
	return onlink, delegated
}

func engineFor(p config.Proxy, w *world.World) (Engine, string) {
	up, why := resolve(w, "upstream", p.Upstream)
	if why != "" {
		return Engine{}, why
	}
	e := Engine{Proxy: p, Upstream: up, From: map[netip.Prefix]string{}}
	add := func(q netip.Prefix, from string) {
		if _, dup := e.From[q]; !dup {
			e.From[q] = from
			e.Prefixes = append(e.Prefixes, q)
		}
	}
	for _, q := range p.Prefixes {
		add(q, "config")
	}
	for _, name := range p.PrefixFrom {
		onlink, delegated := prefixesOf(w, name)
		for _, q := range onlink {
			add(q, name+" on-link")
		}
		for _, q := range delegated {
			add(q, name+" delegated")
		}
	}
	if len(e.Prefixes) == 0 {
		return Engine{}, fmt.Sprintf("no prefix yet from %v", p.PrefixFrom)
	}
	slices.SortFunc(e.Prefixes, func(a, b netip.Prefix) int {
		return cmp.Or(a.Addr().Compare(b.Addr()), cmp.Compare(a.Bits(), b.Bits()))
	})
	for _, a := range w.AddrsOf(up.Index) {
		if a.Prefix.Addr().IsLinkLocalUnicast() && !a.Tentative {
			e.Source = a.Prefix.Addr()
			break
		}
	}
	if !e.Source.IsValid() {
		return Engine{}, fmt.Sprintf("upstream %s has no usable link-local address yet", p.Upstream)
	}
	for _, name := range p.Downstream {
		if l, why := resolve(w, "downstream", name); why == "" {
			e.Downstreams = append(e.Downstreams, l)
		}
	}
	e.Downstreams, e.WireGuard = splitWireGuard(w, e.Downstreams)
	if len(e.Downstreams)+len(e.WireGuard) == 0 && len(p.Downstream) > 0 && p.Verify == config.VerifyProbe {
		return Engine{}, fmt.Sprintf("no downstream of %v exists and is up", p.Downstream)
	}
	for _, l := range w.Links {
		if l.NoARP {
			if e.NoARP == nil {
				e.NoARP = map[int]bool{}
			}
			e.NoARP[l.Index] = true
		}
	}
	for _, a := range w.Addrs {
		if e.Contains(a.Prefix.Addr()) {
			e.Local = append(e.Local, a.Prefix.Addr())
		}
	}
	slices.SortFunc(e.Local, netip.Addr.Compare)
	e.Local = slices.Compact(e.Local)
	for _, n := range w.Neighbors {
		if !n.Usable || !e.Contains(n.Addr) || !slices.ContainsFunc(e.Downstreams, func(l world.Link) bool { return l.Index == n.LinkIndex }) {
			continue
		}
		e.Hints = append(e.Hints, Hint{Addr: n.Addr, LinkIndex: n.LinkIndex})
	}
	slices.SortFunc(e.Hints, func(a, b Hint) int { return a.Addr.Compare(b.Addr) })
	return e, ""
}

func routesFor(e *Engine, targets []Target) []world.Route {
	var out []world.Route
	switch e.Proxy.Route {
	case config.RouteHost:
		for _, t := range targets {
			if t.Proxy != e.Proxy.Name || !slices.ContainsFunc(e.Downstreams, func(l world.Link) bool { return l.Index == t.LinkIndex }) {
				continue
			}
			out = append(out, world.Route{Dst: netip.PrefixFrom(t.Addr, 128), LinkIndex: t.LinkIndex, Metric: e.Proxy.RouteMetric})
		}
	case config.RoutePrefix:
		// Validation guarantees exactly one downstream; it may be down or gone.
		for _, l := range e.Downstreams {
			for _, p := range e.Prefixes {
				out = append(out, world.Route{Dst: p, LinkIndex: l.Index, Metric: e.Proxy.RouteMetric})
			}
		}
	}
	return out
}

func compareRoutes(a, b world.Route) int {
	if c := a.Dst.Addr().Compare(b.Dst.Addr()); c != 0 {
		return c
	}
	return cmp.Or(cmp.Compare(a.Dst.Bits(), b.Dst.Bits()), cmp.Compare(a.LinkIndex, b.LinkIndex), cmp.Compare(a.Metric, b.Metric))
}

// RouteDiff returns the routes to add and to delete to get from have to want.
func RouteDiff(have, want []world.Route) (add, del []world.Route) {
	haveSet := make(map[world.Route]bool, len(have))
	for _, r := range have {
		haveSet[r] = true
	}
	wantSet := make(map[world.Route]bool, len(want))
	for _, r := range want {
		wantSet[r] = true
		if !haveSet[r] {
			add = append(add, r)
		}
	}
	for _, r := range have {
		if !wantSet[r] {
			del = append(del, r)
		}
	}
	return add, del
}
