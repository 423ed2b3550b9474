// Package icmp6 holds what every reader and writer of raw ICMPv6 in ndproxy
// needs alike: the checksum.
package icmp6

import "net/netip"

// Proto is ICMPv6's IPv6 next-header value.
const Proto = 58

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
