// Package netmgr follows the delegated prefixes (DHCPv6-PD) that the host's
// network manager holds on plain Linux, the way package netifd follows them
// on OpenWrt, so that prefix_from '<device>' takes them too.
//
// Only systemd-networkd publishes them (docs/linux.md, "Prefixes from a
// network manager"): since version 255 the JSON that its Describe() method
// returns has, per interface, "DHCPv6Client": {"Prefixes": [...]}, and a
// PropertiesChanged signal of org.freedesktop.network1.DHCPv6Client announces
// every state change of the DHCPv6 client that holds them. NetworkManager
// keeps delegated prefixes to itself (its DHCP6Config options carry none).
package netmgr

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// systemd-networkd's names on the bus (man org.freedesktop.network1).
const (
	Name    = "org.freedesktop.network1"
	Path    = "/org/freedesktop/network1"
	Manager = Name + ".Manager"
	// DHCPv6Client is the interface, on each link's object, whose State
	// changes with every lease the DHCPv6 client gets, renews or loses
	// (networkd-dhcp6-bus.c, dhcp6_client_callback_bus; systemd 255).
	DHCPv6Client = Name + ".DHCPv6Client"
)

// Delegation is what one interface's DHCPv6 client holds.
type Delegation struct {
	// Device is the interface the client runs on (the uplink).
	Device   string
	Prefixes []netip.Prefix
}

// describe is the part of Manager.Describe()'s JSON ndproxy reads. The shape
// is networkd-json.c's (systemd 255, dhcp6_client_pd_append_json):
//
//	{"Interfaces": [{"Index": 2, "Name": "wan0", ...,
//	  "DHCPv6Client": {"Lease": {...}, "Prefixes": [
//	    {"Prefix": [32,1,13,184,...16 bytes], "PrefixLength": 56,
//	     "PreferredLifetimeUSec": 12345678, "ValidLifetimeUSec": 23456789}]}}]}
//
// Prefix is the address as an array of 16 numbers (JSON_BUILD_PAIR_IN6_ADDR);
// the current source adds "PrefixString" beside it (the address as text). The lifetimes are absolute
// CLOCK_BOOTTIME times in microseconds and are left out when infinite
// (JSON_BUILD_PAIR_FINITE_USEC). Versions before 255 have no "DHCPv6Client".
type describe struct {
	Interfaces []struct {
		Index        int    `json:"Index"`
		Name         string `json:"Name"`
		DHCPv6Client *struct {
			Prefixes []pdPrefix `json:"Prefixes"`
		} `json:"DHCPv6Client"`
	} `json:"Interfaces"`
}

type pdPrefix struct {
	Prefix            []int   `json:"Prefix"`
	PrefixString      string  `json:"PrefixString"`
	PrefixLength      *int    `json:"PrefixLength"`
	ValidLifetimeUSec *uint64 `json:"ValidLifetimeUSec"`
}

func (p pdPrefix) prefix() (netip.Prefix, error) {
	if p.PrefixLength == nil || *p.PrefixLength < 0 || *p.PrefixLength > 128 {
		return netip.Prefix{}, fmt.Errorf("no prefix length in 0..128")
	}
	var addr netip.Addr
	switch {
	case len(p.Prefix) == 16:
		var b [16]byte
		for i, v := range p.Prefix {
			if v < 0 || v > 255 {
				return netip.Prefix{}, fmt.Errorf("prefix byte %d is %d", i, v)
			}
			b[i] = byte(v)
		}
		addr = netip.AddrFrom16(b)
	case len(p.Prefix) == 0 && p.PrefixString != "":
		a, err := netip.ParseAddr(p.PrefixString)
		if err != nil || !a.Is6() || a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("bad PrefixString %q", p.PrefixString)
		}
		addr = a
	default:
		return netip.Prefix{}, fmt.Errorf("prefix has %d bytes, want 16", len(p.Prefix))
	}
	if addr.Is4In6() {
		return netip.Prefix{}, fmt.Errorf("prefix %v is not IPv6", addr)
	}
	return netip.PrefixFrom(addr, *p.PrefixLength).Masked(), nil
}

// ParseDescribe reads the JSON of networkd's Manager.Describe(). now is the
// current CLOCK_BOOTTIME: prefixes whose valid lifetime has run out are left
// out. It returns the interfaces holding delegated prefixes, sorted by name,
// each with its prefixes sorted, and the earliest time (CLOCK_BOOTTIME) at
// which one of them expires, zero when none has a finite lifetime.
func ParseDescribe(js []byte, now time.Duration) ([]Delegation, time.Duration, error) {
	var d describe
	if err := json.Unmarshal(js, &d); err != nil {
		return nil, 0, fmt.Errorf("systemd-networkd Describe: %w", err)
	}
	var out []Delegation
	var next time.Duration
	for _, l := range d.Interfaces {
		if l.DHCPv6Client == nil || len(l.DHCPv6Client.Prefixes) == 0 {
			continue
		}
		if l.Name == "" {
			return nil, 0, fmt.Errorf("systemd-networkd Describe: interface %d has no name", l.Index)
		}
		dl := Delegation{Device: l.Name}
		for _, p := range l.DHCPv6Client.Prefixes {
			q, err := p.prefix()
			if err != nil {
				return nil, 0, fmt.Errorf("systemd-networkd Describe: %s: delegated prefix: %w", l.Name, err)
			}
			if p.ValidLifetimeUSec != nil {
				until := time.Duration(min(*p.ValidLifetimeUSec, uint64(1<<63-1)/1000)) * time.Microsecond
				if until <= now {
					continue
				}
				if next == 0 || until < next {
					next = until
				}
			}
			dl.Prefixes = append(dl.Prefixes, q)
		}
		if len(dl.Prefixes) == 0 {
			continue
		}
		slices.SortFunc(dl.Prefixes, comparePrefix)
		dl.Prefixes = slices.Compact(dl.Prefixes)
		out = append(out, dl)
	}
	slices.SortFunc(out, func(a, b Delegation) int { return cmp.Compare(a.Device, b.Device) })
	return out, next, nil
}

func comparePrefix(a, b netip.Prefix) int {
	return cmp.Or(a.Addr().Compare(b.Addr()), cmp.Compare(a.Bits(), b.Bits()))
}
