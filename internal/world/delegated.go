package world

import (
	"net/netip"
	"slices"
)

// AddDelegated takes the delegated prefixes a network manager of plain Linux
// holds per device (systemd-networkd's DHCPv6 client, package netmgr) into
// the snapshot as Logical interfaces named after their devices: the device's
// own addresses from this snapshot, and the delegated prefixes. The planner
// then treats prefix_from '<device>' as it treats a netifd interface on
// OpenWrt: on-link prefixes of the addresses, and delegated prefixes of /64
// or longer. Names that netifd reports already are left alone.
func (w *World) AddDelegated(byDevice map[string][]netip.Prefix) {
	devs := make([]string, 0, len(byDevice))
	for dev := range byDevice {
		devs = append(devs, dev)
	}
	slices.Sort(devs)
	for _, dev := range devs {
		prefixes := byDevice[dev]
		if _, ok := w.LogicalByName(dev); ok || len(prefixes) == 0 {
			continue
		}
		l := Logical{Name: dev, Delegated: append([]netip.Prefix(nil), prefixes...)}
		if link, ok := w.LinkByName(dev); ok {
			l.Up, l.Device = link.Up, dev
			for _, a := range w.AddrsOf(link.Index) {
				l.Addrs = append(l.Addrs, a.Prefix)
			}
		}
		w.Logical = append(w.Logical, l)
	}
}
