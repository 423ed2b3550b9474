package ra

import (
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/ndproxy/ndproxy/internal/icmp6"
)

const (
	// dadWait is how long after a host's DAD probe its address is worth
	// verifying: RetransTimer (1 s) times DupAddrDetectTransmits (1) on
	// Linux, with a margin. A probe earlier is ignored by the tentative
	// host (RFC 4862 section 5.4.3).
	dadWait = 1500 * time.Millisecond
	// relearnAfter keeps a chatty host from being handed to the proxy on
	// every packet; the proxy keeps verified hosts itself.
	relearnAfter = 5 * time.Second
	// maxSeen bounds the addresses remembered for relearnAfter, and
	// maxDelayed the DAD probes waiting for dadWait.
	maxSeen, maxDelayed = 4096, 256
)

// sighting is a downstream host address learned from one ND packet.
type sighting struct {
	Addr netip.Addr
	// AfterDAD is set when the address is still tentative (a DAD probe):
	// it can be verified only once DAD is over.
	AfterDAD bool
}

// parseSighting reads an IPv6 packet carrying an ND message received on a
// downstream link and returns the host address it shows, if any: the target
// of a DAD probe, the global source of an NS or RS, the target of an NA. The
// packet leads only to a verification probe, but it is checked like any ND
// packet (RFC 4861 sections 6.1.1, 7.1.1, 7.1.2): hop limit 255, no
// extension headers, code 0, a valid checksum.
func parseSighting(b []byte) (sighting, bool) {
	if len(b) < icmp6.IPv6HeaderLen+rsFixedLen || b[0]>>4 != 6 || b[6] != icmp6.Proto || b[7] != icmp6.HopLimit {
		return sighting{}, false
	}
	plen := int(binary.BigEndian.Uint16(b[4:6]))
	if plen < rsFixedLen || icmp6.IPv6HeaderLen+plen > len(b) {
		return sighting{}, false
	}
	b = b[:icmp6.IPv6HeaderLen+plen] // Ethernet pads short frames
	src := netip.AddrFrom16([16]byte(b[8:24]))
	dst := netip.AddrFrom16([16]byte(b[24:40]))
	icmp := b[icmp6.IPv6HeaderLen:]
	if icmp[1] != 0 || icmp6.Checksum(src, dst, icmp) != 0 {
		return sighting{}, false
	}
	var addr netip.Addr
	dad := false
	switch icmp[0] {
	case icmp6.TypeRS:
		addr = src
	case icmp6.TypeNS, icmp6.TypeNA:
		if len(icmp) < nsFixedLen {
			return sighting{}, false
		}
		if _, ok := parseOptions(icmp[nsFixedLen:]); !ok {
			return sighting{}, false
		}
		target := netip.AddrFrom16([16]byte(icmp[8:24]))
		switch {
		case icmp[0] == icmp6.TypeNA:
			addr = target
		case src.IsUnspecified():
			addr, dad = target, true
		default:
			addr = src
		}
	default:
		return sighting{}, false
	}
	if !addr.IsGlobalUnicast() || addr.IsLinkLocalUnicast() {
		return sighting{}, false
	}
	return sighting{Addr: addr, AfterDAD: dad}, true
}
