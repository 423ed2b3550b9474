// Package world holds the snapshot of the host's network state that the
// planner works on: plain values, no I/O, safe to share once built.
package world

import (
	"net"
	"net/netip"
)

// World is one consistent-enough look at the kernel's state. It is rebuilt in
// full after every burst of netlink events; nothing in it is patched in place.
type World struct {
	Links []Link
	Addrs []Addr
	// Routes are the routes ndproxy owns (protocol RouteProtocol) in the main
	// table, as the kernel reports them.
	Routes []Route
	// Neighbors are the kernel's IPv6 neighbour entries.
	Neighbors []Neighbor
	// Logical are OpenWrt's logical interfaces as netifd reports them; nil
	// where there is no netifd.
	Logical []Logical
	// Sysctls maps the /proc/sys paths the planner asked about to their values;
	// a missing key means the file does not exist (yet).
	Sysctls map[string]string
	// WireGuard are the WireGuard devices ndproxy watches (see wireguard.go).
	WireGuard []WireGuard
	// DefaultLinks are the links of the main table's IPv6 default routes
	// (0 for a multipath one), read with the routes into WireGuard devices:
	// nil while none is watched.
	DefaultLinks []int
}

// Link is a network interface.
type Link struct {
	Index int
	Name  string
	// Up is the administrative state.
	Up bool
	// NoARP is set on devices without neighbour discovery (WireGuard, tun).
	NoARP bool
	// HardwareAddr is empty on devices without a link layer.
	HardwareAddr net.HardwareAddr
}

// Logical is an OpenWrt logical interface (wan6, lan) as netifd reports it.
type Logical struct {
	Name string
	Up   bool
	// Device is the L3 device (l3_device); empty while down.
	Device string
	// Main is the main device (netifd's "device"), known before the
	// interface is up: a proto dhcpv6 stacked on a WireGuard device comes
	// up only once that device has the link-local address odhcp6c sends
	// from. Empty for a device-less proto and for an alias not yet bound.
	Main string
	// Addrs are its IPv6 addresses with their prefix lengths.
	Addrs []netip.Prefix
	// Delegated are the prefixes it received (DHCPv6-PD, ip6prefix).
	Delegated []netip.Prefix
}

// Addr is an IPv6 address assigned to a link.
type Addr struct {
	LinkIndex int
	Prefix    netip.Prefix
	// Tentative addresses are still in DAD and cannot be used as a source.
	Tentative bool
	// Valid and Preferred are the lifetimes left when the snapshot was
	// taken, in seconds; Forever (0xffffffff) never runs out.
	Valid, Preferred uint32
}

// Forever is the lifetime of an address that does not expire.
const Forever = 0xffffffff

// Route is an IPv6 unicast route towards a device.
type Route struct {
	Dst       netip.Prefix
	LinkIndex int
	Metric    int
}

// Neighbor is a kernel neighbour-cache entry.
type Neighbor struct {
	LinkIndex int
	Addr      netip.Addr
	// Usable is REACHABLE, PERMANENT, STALE, DELAY or PROBE: the kernel saw
	// the host recently (it may be gone since).
	Usable bool
}

// LinkByName returns the link called name.
func (w *World) LinkByName(name string) (Link, bool) {
	for _, l := range w.Links {
		if l.Name == name {
			return l, true
		}
	}
	return Link{}, false
}

// LogicalByName returns the logical interface called name.
func (w *World) LogicalByName(name string) (Logical, bool) {
	for _, l := range w.Logical {
		if l.Name == name {
			return l, true
		}
	}
	return Logical{}, false
}

// LinkByIndex returns the link with index i.
func (w *World) LinkByIndex(i int) (Link, bool) {
	for _, l := range w.Links {
		if l.Index == i {
			return l, true
		}
	}
	return Link{}, false
}

// AddrsOf returns the addresses of link index i.
func (w *World) AddrsOf(i int) []Addr {
	var out []Addr
	for _, a := range w.Addrs {
		if a.LinkIndex == i {
			out = append(out, a)
		}
	}
	return out
}
