package ra

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"slices"
	"time"
)

// Link is a downstream link as the relay sends to it.
type Link struct {
	Index int
	Name  string
	// MAC goes into the source link-layer address option; links without
	// one (WireGuard, tun) get no such option.
	MAC net.HardwareAddr
	// MTU caps the MTU option of the relayed RAs.
	MTU int
	// Source is ndproxy's link-local address on the link: a host accepts an
	// RA only from a link-local source (RFC 4861 section 6.1.2), and it
	// becomes the hosts' default router.
	Source netip.Addr
	// Unicast, when not empty, lists the destinations of every RA on this
	// link instead of all-nodes: on a multi-peer WireGuard device a
	// multicast packet reaches only the peer whose allowed-ips hold ff02::1.
	Unicast []netip.Addr
}

// Settings shape the relayed RAs; they come from the proxy section.
type Settings struct {
	// OnLink keeps the L flags of prefixes; by default they are cleared so
	// that hosts send everything through this router (as odhcpd does),
	// which is what lets the NDP proxy carry their traffic.
	OnLink bool
	// DNS replaces the recursive DNS servers of the upstream RAs.
	DNS []netip.Addr
	// Interval is the longest time between unsolicited RAs.
	Interval time.Duration
	// HoldDown is how long relaying stops after a loop is seen.
	HoldDown time.Duration
}

// rewrite turns the upstream's RA m into the one sent on l: the Proxy flag
// set (RFC 4389 section 4.1.3.3), the link-layer address ours (section
// 4.1.2), the MTU no larger than l's, link-local DNS servers dropped (they
// are only reachable on the upstream link), and the L flags cleared unless
// the section keeps them.
func rewrite(m Message, l Link, s Settings) Message {
	out := m
	out.Flags |= FlagProxy
	out.Options = nil
	if len(l.MAC) > 0 {
		out.Options = append(out.Options, Option{Type: optSLLA, Data: slla(l.MAC)})
	}
	for _, o := range m.Options {
		switch o.Type {
		case optSLLA, optNonce:
			// Ours goes first; a nonce belongs to the original exchange.
		case optMTU:
			d := slices.Clone(o.Data)
			if mtu := binary.BigEndian.Uint32(d[2:6]); l.MTU > 0 && mtu > uint32(l.MTU) {
				binary.BigEndian.PutUint32(d[2:6], uint32(l.MTU))
			}
			out.Options = append(out.Options, Option{Type: o.Type, Data: d})
		case optPrefix:
			d := slices.Clone(o.Data)
			if !s.OnLink {
				d[1] &^= 0x80
			}
			out.Options = append(out.Options, Option{Type: o.Type, Data: d})
		case optRDNSS:
			if len(s.DNS) > 0 {
				continue // replaced below
			}
			var keep []netip.Addr
			for a := o.Data[6:]; len(a) >= 16; a = a[16:] {
				if addr := netip.AddrFrom16([16]byte(a[:16])); !addr.IsLinkLocalUnicast() {
					keep = append(keep, addr)
				}
			}
			if len(keep) > 0 {
				out.Options = append(out.Options, rdnss(binary.BigEndian.Uint32(o.Data[2:6]), keep))
			}
		default:
			out.Options = append(out.Options, o)
		}
	}
	if len(s.DNS) > 0 {
		// RFC 8106 section 5.1: a lifetime of at least three times the
		// longest interval, so one lost RA does not lose the servers.
		out.Options = append(out.Options, rdnss(uint32(3*s.Interval/time.Second), s.DNS))
	}
	// A packet larger than the link cannot be sent whole: options past the
	// MTU are left out, the fixed ones (SLLA, MTU, prefixes) come first.
	if l.MTU > 0 {
		room := l.MTU - 40
		for len(out.Options) > 0 && size(out) > room {
			out.Options = out.Options[:len(out.Options)-1]
		}
	}
	return out
}

func size(m Message) int {
	n := raFixedLen
	for _, o := range m.Options {
		n += len(o.Data) + 2
	}
	return n
}

func slla(mac net.HardwareAddr) []byte {
	// Padded to a multiple of 8 bytes with the type and length.
	n := (len(mac)+2+7)/8*8 - 2
	d := make([]byte, n)
	copy(d, mac)
	return d
}

func rdnss(lifetime uint32, addrs []netip.Addr) Option {
	d := make([]byte, 6, 6+16*len(addrs))
	binary.BigEndian.PutUint32(d[2:6], lifetime)
	for _, a := range addrs {
		d = append(d, a.AsSlice()...)
	}
	return Option{Type: optRDNSS, Data: d}
}

// merge makes one RA from the cached RAs of the upstream routers, freshest
// first: downstream there is one router, ndproxy. The header is the
// freshest RA's, the router lifetime the longest left, the options all of
// them with each prefix, route and the MTU once.
func merge(rs []Message) Message {
	if len(rs) == 0 {
		return Message{}
	}
	out := rs[0]
	out.Options = nil
	seen := map[string]bool{}
	mtu := -1
	for _, m := range rs {
		out.RouterLifetime = max(out.RouterLifetime, m.RouterLifetime)
		out.Flags |= m.Flags & (flagManaged | flagOther)
		for _, o := range m.Options {
			var key string
			switch o.Type {
			case optPrefix:
				key = string([]byte{optPrefix, o.Data[0]}) + string(o.Data[14:30])
			case optRoute:
				key = string([]byte{optRoute, o.Data[0]}) + string(o.Data[6:])
			case optMTU:
				if v := int(binary.BigEndian.Uint32(o.Data[2:6])); mtu >= 0 {
					if v < mtu {
						binary.BigEndian.PutUint32(out.Options[slices.IndexFunc(out.Options, isMTU)].Data[2:6], uint32(v))
					}
					continue
				} else {
					mtu = v
				}
			case optSLLA:
				continue
			default:
				key = string(o.Type) + string(o.Data)
			}
			if key != "" {
				if seen[key] {
					continue
				}
				seen[key] = true
			}
			out.Options = append(out.Options, Option{Type: o.Type, Data: slices.Clone(o.Data)})
		}
	}
	return out
}

func isMTU(o Option) bool { return o.Type == optMTU }

// equal reports whether two RAs say the same, lifetimes included.
func equal(a, b Message) bool {
	return bytes.Equal(a.Marshal(), b.Marshal())
}
