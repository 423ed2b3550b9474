package plan

import (
	"cmp"
	"encoding/base64"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/ndproxy/ndproxy/internal/config"
	"github.com/ndproxy/ndproxy/internal/world"
)

// WireGuard devices have no link layer (NOARP): a Neighbor Solicitation sent
// into one reaches no host, and the kernel makes a NOARP neighbour entry for
// any address at once, so probing or watching the neighbour table would
// "verify" every address. What lives behind a WireGuard device is known
// instead from its peers' allowed-ips; those inside a section's prefixes are
// answered for without verification and routed into the device, and nothing
// else behind it ever is.

// Owned is a target answered for without verification: an allowed-ip of a
// WireGuard peer inside the section's prefixes, a /128 or a longer-than-/64
// prefix.
type Owned struct {
	Prefix    netip.Prefix
	LinkIndex int
}

// WireGuardWant is a device the WireGuard watcher should read: a downstream
// of a proxy section or the device of a wireguard section, as a link that
// exists in this namespace now. Whether it really is a WireGuard device is
// for the watcher to find out.
type WireGuardWant struct {
	Name             string
	Index            int
	Up               bool
	HandshakeTimeout time.Duration
}

// WireGuardWants lists the links the watcher should look at, sorted by name.
func WireGuardWants(cfg *config.Config, w *world.World) []WireGuardWant {
	seen := map[string]bool{}
	var out []WireGuardWant
	add := func(name string) {
		dev := deviceOf(w, name)
		l, ok := w.LinkByName(dev)
		if !ok || seen[dev] {
			return
		}
		seen[dev] = true
		out = append(out, WireGuardWant{Name: dev, Index: l.Index, Up: l.Up, HandshakeTimeout: handshakeTimeout(cfg, w, dev)})
	}
	for _, s := range cfg.WireGuard {
		add(s.Device)
	}
	for _, p := range cfg.Proxies {
		for _, name := range p.Downstream {
			add(name)
		}
	}
	slices.SortFunc(out, func(a, b WireGuardWant) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// deviceOf maps an OpenWrt logical interface to its device, the main device
// while it is not up yet (a stacked proto dhcpv6 needs the device's
// link-local to come up at all); any other name is a device.
func deviceOf(w *world.World, name string) string {
	if l, ok := w.LogicalByName(name); ok {
		switch {
		case l.Device != "":
			return l.Device
		case l.Main != "":
			return l.Main
		}
	}
	return name
}

// handshakeTimeout is the handshake_timeout of the wireguard section of
// device dev, zero if there is none.
func handshakeTimeout(cfg *config.Config, w *world.World, dev string) time.Duration {
	for _, s := range cfg.WireGuard {
		if deviceOf(w, s.Device) == dev {
			return s.HandshakeTimeout
		}
	}
	return 0
}

// splitWireGuard separates the WireGuard devices among a section's
// downstream links from those that can be probed.
func splitWireGuard(w *world.World, links []world.Link) (plain, wireguard []world.Link) {
	for _, l := range links {
		if _, ok := w.WireGuardByIndex(l.Index); ok {
			wireguard = append(wireguard, l)
		} else {
			plain = append(plain, l)
		}
	}
	return plain, wireguard
}

// wireguardTargets fills e.Owned from the peers of e's WireGuard downstreams:
// every IPv6 allowed-ip of a live peer that is a /128 or a prefix longer than
// /64 inside one of e's prefixes, minus this host's own addresses. A shorter
// allowed-ip (::/0, a whole /64) says the peer may send from there, not that
// every address in it lives behind the peer. An allowed-ip two devices claim
// goes to the lower link index, so the choice is stable.
func wireguardTargets(cfg *config.Config, w *world.World, e *Engine) {
	e.Owned = nil
	local := map[netip.Addr]bool{}
	for _, a := range e.Local {
		local[a] = true
	}
	taken := map[netip.Prefix]bool{}
	links := slices.Clone(e.WireGuard)
	slices.SortFunc(links, func(a, b world.Link) int { return a.Index - b.Index })
	for _, l := range links {
		dev, _ := w.WireGuardByIndex(l.Index)
		timeout := handshakeTimeout(cfg, w, l.Name)
		for i := range dev.Peers {
			p := &dev.Peers[i]
			if p.Gone(timeout, dev.Read) {
				continue
			}
			for _, a := range p.AllowedIPs {
				if a.Bits() <= 64 || taken[a] || (a.Bits() == 128 && local[a.Addr()]) || !insideAny(e.Prefixes, a) {
					continue
				}
				taken[a] = true
				e.Owned = append(e.Owned, Owned{Prefix: a, LinkIndex: l.Index})
			}
		}
	}
	slices.SortFunc(e.Owned, func(a, b Owned) int { return comparePrefix(a.Prefix, b.Prefix) })
}

func insideAny(outer []netip.Prefix, p netip.Prefix) bool {
	for _, o := range outer {
		if o.Bits() <= p.Bits() && o.Contains(p.Addr()) {
			return true
		}
	}
	return false
}

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}

// wireguardRoutes routes each owned target into its device, unless a route
// for exactly that prefix into that device is there already (OpenWrt's
// route_allowed_ips, or the admin's): a second one would only compete with
// it. Only route host installs routes per target; route prefix already sends
// the whole prefix to the one downstream.
func wireguardRoutes(w *world.World, e *Engine) []world.Route {
	if e.Proxy.Route != config.RouteHost {
		return nil
	}
	var out []world.Route
	for _, o := range e.Owned {
		dev, _ := w.WireGuardByIndex(o.LinkIndex)
		if dev != nil && slices.Contains(dev.Routes, o.Prefix) {
			continue
		}
		out = append(out, world.Route{Dst: o.Prefix, LinkIndex: o.LinkIndex, Metric: e.Proxy.RouteMetric})
	}
	return out
}

// wireguardLinkLocals lists the derived link-local addresses that the
// wireguard sections with link_local want on their devices (kernel WireGuard
// devices have none, and RA and DHCPv6 over the tunnel need one), and warns
// about peers whose derived addresses collide: with 64 hash bits that means a
// key listed twice or chosen to collide, and RAs unicast to that address
// would reach only one of them.
func wireguardLinkLocals(cfg *config.Config, w *world.World, d *Desired) {
	for _, s := range cfg.WireGuard {
		if !s.LinkLocal {
			continue
		}
		l, ok := w.LinkByName(deviceOf(w, s.Device))
		if !ok {
			continue
		}
		dev, ok := w.WireGuardByIndex(l.Index)
		if !ok || !dev.LinkLocal.IsValid() {
			continue
		}
		d.LinkLocals = append(d.LinkLocals, world.Addr{LinkIndex: l.Index, Prefix: netip.PrefixFrom(dev.LinkLocal, 64)})
	}
	for i := range w.WireGuard {
		dev := &w.WireGuard[i]
		owner := map[netip.Addr]string{}
		if dev.LinkLocal.IsValid() {
			owner[dev.LinkLocal] = "the device itself"
		}
		for _, p := range dev.Peers {
			name := "peer " + base64.StdEncoding.EncodeToString(p.PublicKey[:])
			if prev, dup := owner[p.LinkLocal]; dup {
				d.Warnings = append(d.Warnings, fmt.Sprintf("WireGuard %s: %s and %s derive the same link-local address %s", dev.Name, prev, name, p.LinkLocal))
				continue
			}
			owner[p.LinkLocal] = name
		}
	}
}
