package proxy

import (
	"encoding/binary"
	"net"
	"net/netip"

	"github.com/ndproxy/ndproxy/internal/icmp6"
)

const (
	nsFixedLen = 24 // type, code, checksum, reserved, target
	optSLLA    = 1
	optTLLA    = 2
)

// dropReason names why a received packet was not acted on; it keys counters.
type dropReason string

const (
	dropNone        dropReason = ""
	dropShort       dropReason = "short"
	dropVersion     dropReason = "not_ipv6"
	dropNextHeader  dropReason = "extension_header"
	dropHopLimit    dropReason = "hop_limit"
	dropCode        dropReason = "icmp_code"
	dropChecksum    dropReason = "checksum"
	dropOption      dropReason = "bad_option"
	dropTarget      dropReason = "bad_target"
	dropSource      dropReason = "bad_source"
	dropDestination dropReason = "bad_destination"
	dropDAD         dropReason = "bad_dad"
)

// solicitation is a validated Neighbor Solicitation.
type solicitation struct {
	Src, Dst, Target netip.Addr
}

// parseNS validates an IPv6 packet carrying a Neighbor Solicitation against
// RFC 4861 section 7.1.1 and returns it, or the reason it must be dropped.
// Extension headers are refused outright: NDP must not be fragmented (RFC 6980)
// and no legitimate NS carries any other extension header.
func parseNS(b []byte) (solicitation, dropReason) {
	if len(b) < icmp6.IPv6HeaderLen+nsFixedLen {
		return solicitation{}, dropShort
	}
	if b[0]>>4 != 6 {
		return solicitation{}, dropVersion
	}
	plen := int(binary.BigEndian.Uint16(b[4:6]))
	if plen < nsFixedLen || icmp6.IPv6HeaderLen+plen > len(b) {
		return solicitation{}, dropShort
	}
	b = b[:icmp6.IPv6HeaderLen+plen] // Ethernet may pad short frames.
	if b[6] != icmp6.Proto {
		return solicitation{}, dropNextHeader
	}
	if b[7] != icmp6.HopLimit {
		return solicitation{}, dropHopLimit
	}
	src := netip.AddrFrom16([16]byte(b[8:24]))
	dst := netip.AddrFrom16([16]byte(b[24:40]))
	icmp := b[icmp6.IPv6HeaderLen:]
	if icmp[0] != icmp6.TypeNS {
		return solicitation{}, dropShort
	}
	if icmp[1] != 0 {
		return solicitation{}, dropCode
	}
	if icmp6.Checksum(src, dst, icmp) != 0 {
		return solicitation{}, dropChecksum
	}
	hasSLLA, ok := walkOptions(icmp[nsFixedLen:], true)
	if !ok {
		return solicitation{}, dropOption
	}
	target := netip.AddrFrom16([16]byte(icmp[8:24]))
	if target.IsMulticast() || target.IsUnspecified() || target.IsLoopback() {
		return solicitation{}, dropTarget
	}
	if src.IsMulticast() || src.IsLoopback() {
		return solicitation{}, dropSource
	}
	if src.IsUnspecified() {
		// DAD: sent to the solicited-node group, never with a source
		// link-layer address option (RFC 4861 section 7.1.1).
		if dst != solicitedNode(target) || hasSLLA {
			return solicitation{}, dropDAD
		}
	} else if dst.IsMulticast() {
		if dst != solicitedNode(target) {
			return solicitation{}, dropDestination
		}
	} else if dst != target {
		// A unicast NS (NUD, RFC 4861 section 7.3.1) is addressed to the target.
		return solicitation{}, dropDestination
	}
	return solicitation{Src: src, Dst: dst, Target: target}, dropNone
}

// parseNA returns the target of a Neighbor Advertisement as a raw ICMPv6
// socket delivers it (no IPv6 header; the kernel checked the checksum, the
// caller the hop limit), if it is valid (RFC 4861 section 7.1.2).
func parseNA(b []byte) (netip.Addr, bool) {
	if len(b) < nsFixedLen || b[0] != icmp6.TypeNA || b[1] != 0 {
		return netip.Addr{}, false
	}
	if _, ok := walkOptions(b[nsFixedLen:], false); !ok {
		return netip.Addr{}, false
	}
	target := netip.AddrFrom16([16]byte(b[8:24]))
	if target.IsMulticast() || target.IsUnspecified() || target.IsLoopback() {
		return netip.Addr{}, false
	}
	return target, true
}

// walkOptions checks that options tile the buffer with non-zero lengths (RFC
// 4861 section 4.6: a zero length must be discarded, and would loop a naive
// parser forever) and reports whether a source link-layer address is
// present. With oneUnitLLA, a link-layer address option must also be one
// unit long, as an Ethernet address makes it: the kernel drops a
// solicitation whose option does not fit the link, and ndproxy's upstreams
// are Ethernet-like or have no link-layer addresses at all. Advertisements
// on a downstream link are taken with any length (IEEE 802.15.4 addresses
// take two units). Other options are not looked into: a receiver ignores
// what it does not use.
func walkOptions(b []byte, oneUnitLLA bool) (slla, ok bool) {
	for len(b) > 0 {
		if len(b) < 2 || b[1] == 0 || int(b[1])*8 > len(b) {
			return false, false
		}
		if oneUnitLLA && (b[0] == optSLLA || b[0] == optTLLA) && b[1] != 1 {
			return false, false
		}
		if b[0] == optSLLA {
			slla = true
		}
		b = b[int(b[1])*8:]
	}
	return slla, true
}

// solicitedNode returns the solicited-node multicast group of ip (RFC 4291
// section 2.7.1): ff02::1:ff00:0/104 plus the low 24 bits.
func solicitedNode(ip netip.Addr) netip.Addr {
	a := ip.As16()
	return netip.AddrFrom16([16]byte{0xff, 0x02, 10: 0, 11: 1, 12: 0xff, 13: a[13], 14: a[14], 15: a[15]})
}

// multicastMAC is the Ethernet address of an IPv6 multicast group (RFC 2464 section 7).
func multicastMAC(group netip.Addr) net.HardwareAddr {
	a := group.As16()
	return net.HardwareAddr{0x33, 0x33, a[12], a[13], a[14], a[15]}
}

var allNodes = netip.MustParseAddr("ff02::1")

// advert describes a Neighbor Advertisement to send.
type advert struct {
	Src, Dst, Target            netip.Addr
	Router, Solicited, Override bool
	// TLLA is the target link-layer address option; empty on links without
	// link-layer addresses.
	TLLA net.HardwareAddr
}

// appendNA appends a complete IPv6 packet carrying the advertisement, with
// hop limit 255 and a correct checksum.
func appendNA(b []byte, a advert) []byte {
	var flags byte
	if a.Router {
		flags |= 0x80
	}
	if a.Solicited {
		flags |= 0x40
	}
	if a.Override {
		flags |= 0x20
	}
	return appendNDP(b, a.Src, a.Dst, icmp6.TypeNA, flags, a.Target, optTLLA, a.TLLA)
}

// appendNS appends a complete IPv6 packet soliciting target from src, to
// target's solicited-node group, with hop limit 255, a correct checksum and,
// if slla is not empty, a source link-layer address option (RFC 4861
// section 4.3: it must be there on a multicast solicitation where the link
// has addresses; the target answers to it without resolving us first).
func appendNS(b []byte, src, target netip.Addr, slla net.HardwareAddr) []byte {
	return appendNDP(b, src, solicitedNode(target), icmp6.TypeNS, 0, target, optSLLA, slla)
}

// appendNDP writes a solicitation or an advertisement (RFC 4861 sections 4.3
// and 4.4: the same layout, flags in the first reserved byte) behind an
// IPv6 header, with a link-layer address option if lla is not empty. They
// are built here rather than through a general NDP library because they are
// on the path of every answer: this costs one checksum pass and no
// allocation beyond b's growth.
func appendNDP(b []byte, src, dst netip.Addr, typ, flags byte, target netip.Addr, opt byte, lla net.HardwareAddr) []byte {
	n := nsFixedLen
	units := (2 + len(lla) + 7) / 8
	if len(lla) > 0 {
		n += units * 8
	}
	b = appendIPv6Header(b, src, dst, n)
	m := len(b)
	t := target.As16()
	b = append(b, typ, 0, 0, 0, flags, 0, 0, 0)
	b = append(b, t[:]...)
	if len(lla) > 0 {
		b = append(b, opt, byte(units))
		b = append(b, lla...)
		for len(b) < m+n {
			b = append(b, 0)
		}
	}
	binary.BigEndian.PutUint16(b[m+2:], icmp6.Checksum(src, dst, b[m:]))
	return b
}

func appendIPv6Header(b []byte, src, dst netip.Addr, plen int) []byte {
	s, d := src.As16(), dst.As16()
	b = append(b, 0x60, 0, 0, 0)
	b = binary.BigEndian.AppendUint16(b, uint16(plen))
	b = append(b, icmp6.Proto, icmp6.HopLimit)
	b = append(b, s[:]...)
	return append(b, d[:]...)
}
