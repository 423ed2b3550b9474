package bench

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"

	"github.com/ndproxy/ndproxy/internal/icmp6"
)

const (
	ipv6HeaderLen = 40
	protoICMPv6   = 58
	// hopLimitND is the only hop limit Neighbor Discovery accepts (RFC 4861
	// section 7.1.1).
	hopLimitND = 255
	typeNS     = 135
	typeNA     = 136
	ndFixedLen = 24 // type, code, checksum, flags/reserved, target
	optSLLA    = 1
	// nsLen is a whole solicitation: IPv6 header, NS, one 8-byte SLLA option.
	nsLen = ipv6HeaderLen + ndFixedLen + 8
)

// Offsets, from the start of the IPv6 header, that the socket filters test.
// Every socket here is SOCK_DGRAM, so a filter sees the packet from the
// IPv6 header on.
const (
	offNextHeader = 6
	offICMPType   = ipv6HeaderLen
	offTarget     = ipv6HeaderLen + 8
)

// solicitedNode returns the solicited-node multicast group of a (RFC 4291
// section 2.7.1): ff02::1:ff00:0/104 plus the low 24 bits of a.
func solicitedNode(a netip.Addr) netip.Addr {
	b := a.As16()
	g := [16]byte{0: 0xff, 1: 0x02, 11: 0x01, 12: 0xff, 13: b[13], 14: b[14], 15: b[15]}
	return netip.AddrFrom16(g)
}

// multicastMAC returns the Ethernet address an IPv6 multicast group is sent
// to (RFC 2464 section 7): 33:33 and the group's low 32 bits.
func multicastMAC(group netip.Addr) net.HardwareAddr {
	b := group.As16()
	return net.HardwareAddr{0x33, 0x33, b[12], b[13], b[14], b[15]}
}

// nsBuilder writes multicast Neighbor Solicitations from one source, as a
// router on the upstream link sends them: to the target's solicited-node
// group, hop limit 255, with a source link-layer address option so that the
// answer needs no resolution of the asker.
type nsBuilder struct {
	src netip.Addr
	mac net.HardwareAddr
}

// build writes the solicitation for target into b (at least nsLen bytes) and
// returns the packet and the Ethernet destination it must be sent to.
func (nb nsBuilder) build(b []byte, target netip.Addr) ([]byte, net.HardwareAddr) {
	b = b[:nsLen]
	clear(b)
	dst := solicitedNode(target)
	b[0] = 0x60 // version 6, traffic class and flow label 0
	binary.BigEndian.PutUint16(b[4:6], nsLen-ipv6HeaderLen)
	b[6] = protoICMPv6
	b[7] = hopLimitND
	src16, dst16, target16 := nb.src.As16(), dst.As16(), target.As16()
	copy(b[8:24], src16[:])
	copy(b[24:40], dst16[:])
	m := b[ipv6HeaderLen:]
	m[0] = typeNS
	copy(m[8:24], target16[:])
	m[24], m[25] = optSLLA, 1 // length in units of 8 bytes
	copy(m[26:32], nb.mac)
	binary.BigEndian.PutUint16(m[2:4], icmp6.Checksum(nb.src, dst, m))
	return b, multicastMAC(dst)
}

var errNotNA = errors.New("not a neighbor advertisement")

// parseNA returns the target of a Neighbor Advertisement that starts at its
// IPv6 header. It checks only what the measurement relies on: that the packet
// is an NA and holds a whole target; the proxies under test are judged by
// whether they answered, and the asker's kernel is not involved.
func parseNA(b []byte) (netip.Addr, error) {
	if len(b) < ipv6HeaderLen+ndFixedLen || b[0]>>4 != 6 || b[offNextHeader] != protoICMPv6 || b[offICMPType] != typeNA {
		return netip.Addr{}, errNotNA
	}
	return netip.AddrFrom16([16]byte(b[offTarget : offTarget+16])), nil
}

// parseNSTarget is parseNA for Neighbor Solicitations, seen downstream.
func parseNSTarget(b []byte) (netip.Addr, error) {
	if len(b) < ipv6HeaderLen+ndFixedLen || b[0]>>4 != 6 || b[offNextHeader] != protoICMPv6 || b[offICMPType] != typeNS {
		return netip.Addr{}, errors.New("not a neighbor solicitation")
	}
	return netip.AddrFrom16([16]byte(b[offTarget : offTarget+16])), nil
}
