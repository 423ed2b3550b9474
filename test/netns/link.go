package netns

import "fmt"

// Link connects host a and host b with a veth pair, named aDev inside a and
// bDev inside b, and sets both ends up. The pair is created inside a with its
// peer placed directly into b, so no name ever exists in the caller's
// namespace; names only need to be unique inside their own namespace (at most
// 15 bytes, the kernel's IFNAMSIZ-1).
func (l *Lab) Link(a *Host, aDev string, b *Host, bDev string) {
	l.t.Helper()
	l.veth(a, aDev, b, bDev)
	a.SetLink(aDev, true)
	b.SetLink(bDev, true)
}

func (l *Lab) veth(a *Host, aDev string, b *Host, bDev string) {
	l.t.Helper()
	for _, n := range []string{aDev, bDev} {
		if len(n) > 15 {
			l.t.Fatalf("netns: link name %q is longer than 15 bytes", n)
		}
	}
	// "name" before each name: ip link parses a bare "a" or "d" as an
	// abbreviated keyword.
	a.MustIP("link", "add", "name", aDev, "address", l.mac(), "type", "veth",
		"peer", "name", bDev, "address", l.mac(), "netns", b.NS)
}

// mac returns a new address for a link of the lab: 02:00:00:00:HH:LL,
// locally administered and numbered per lab. Random ones would make SLAAC
// addresses random: their interface identifiers (EUI-64) could then fall
// into whatever sub-prefix a test proxies. These give identifiers
// 0:ff:fe00:HHLL, easy to read and outside any sub-prefix that does not
// have zeros in its bits 64 to 79.
func (l *Lab) mac() string {
	n := l.next()
	return fmt.Sprintf("02:00:00:00:%02x:%02x", n>>8&0xff, n&0xff)
}

// Switch is a Linux bridge that hosts are attached to: either a whole
// namespace that is nothing but a switch (Lab.Switch) or a bridge inside a
// host that uses it itself (Host.Bridge).
type Switch struct {
	// Host holds the bridge.
	*Host
	// Dev is the bridge's name inside Host.
	Dev string
}

// Switch creates a namespace holding only a bridge br0: a shared Ethernet
// segment. Its IPv6 is disabled, so the switch itself never speaks, and
// multicast snooping is off, so every host sees every multicast (solicited-node
// NS included) as on a dumb switch.
func (l *Lab) Switch(name string) *Switch {
	l.t.Helper()
	h := l.newHost(name, "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
	h.isSwitch = true
	return h.Bridge("br0")
}

// Bridge creates a bridge named dev inside the host, multicast snooping off,
// and sets it up. The host can give it addresses like any other link.
func (h *Host) Bridge(dev string) *Switch {
	h.lab.t.Helper()
	h.MustIP("link", "add", "name", dev, "type", "bridge", "mcast_snooping", "0")
	h.SetLink(dev, true)
	return &Switch{Host: h, Dev: dev}
}

// Attach connects host h to the switch with a veth pair named dev inside h,
// and returns the name of the switch port (the peer, enslaved to the bridge).
func (s *Switch) Attach(h *Host, dev string) (port string) {
	s.lab.t.Helper()
	port = fmt.Sprintf("p%d-%s", s.lab.next(), h.Name)
	if len(port) > 15 {
		port = port[:15]
	}
	s.lab.veth(h, dev, s.Host, port)
	if !s.isSwitch {
		// A port is a wire, not an interface of the host: without this it
		// would get a link-local address of its own and speak NDP and MLD.
		s.SetSysctl("net.ipv6.conf." + port + ".disable_ipv6=1")
	}
	s.MustIP("link", "set", "dev", port, "master", s.Dev)
	s.SetLink(port, true)
	h.SetLink(dev, true)
	return port
}
