package icmp6

import (
	"fmt"
	"net"

	"golang.org/x/net/ipv6"
)

// ListenNDP opens a raw ICMPv6 socket for Neighbor Discovery on every link:
// only the given message types pass its filter, what it receives carries
// the incoming link and the hop limit, what it sends has hop limit 255
// (unicast and multicast), and its own multicast does not come back to it.
func ListenNDP(types ...ipv6.ICMPType) (*net.IPConn, *ipv6.PacketConn, error) {
	c, err := net.ListenPacket("ip6:ipv6-icmp", "::")
	if err != nil {
		return nil, nil, fmt.Errorf("icmpv6 socket: %w", err)
	}
	pc := ipv6.NewPacketConn(c)
	var f ipv6.ICMPFilter
	f.SetAll(true)
	for _, t := range types {
		f.Accept(t)
	}
	for _, set := range []func() error{
		func() error { return pc.SetICMPFilter(&f) },
		func() error { return pc.SetControlMessage(ipv6.FlagInterface|ipv6.FlagHopLimit, true) },
		func() error { return pc.SetMulticastHopLimit(HopLimit) },
		func() error { return pc.SetHopLimit(HopLimit) },
		func() error { return pc.SetMulticastLoopback(false) },
	} {
		if err := set(); err != nil {
			c.Close()
			return nil, nil, fmt.Errorf("icmpv6 socket options: %w", err)
		}
	}
	return c.(*net.IPConn), pc, nil
}
