// Package icmp6 holds what every reader and writer of raw ICMPv6 in ndproxy
// needs alike: the numbers of Neighbor Discovery, the checksum and the socket.
package icmp6

import "net/netip"

const (
	// Proto is ICMPv6's IPv6 next-header value.
	Proto = 58
	// IPv6HeaderLen is the length of the fixed IPv6 header.
	IPv6HeaderLen = 40
	// HopLimit is the only hop limit a node accepts on Neighbor Discovery
	// messages (RFC 4861 sections 6.1 and 7.1): it proves the sender is
	// on-link.
	HopLimit = 255

	// Neighbor Discovery message types (RFC 4861 section 4).
	TypeRS = 133
	TypeRA = 134
	TypeNS = 135
	TypeNA = 136
)

// Checksum returns the ICMPv6 checksum of msg sent from src to dst (RFC 4443
// section 2.3, over the pseudo-header of RFC 8200 section 8.1). Over a
// message whose checksum field is filled in correctly it is 0.
func Checksum(src, dst netip.Addr, msg []byte) uint16 {
	var sum uint32
	add := func(b []byte) {
		for len(b) >= 2 {
			sum += uint32(b[0])<<8 | uint32(b[1])
			b = b[2:]
		}
		if len(b) == 1 {
			sum += uint32(b[0]) << 8
		}
	}
	s, d := src.As16(), dst.As16()
	add(s[:])
	add(d[:])
	// Upper-layer length (32 bits) and next header; an ICMPv6 message
	// fits in 32 bits with room to spare.
	sum += uint32(len(msg)>>16) + uint32(len(msg)&0xffff) + Proto
	add(msg)
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}
