// Package ra relays Router Advertisements from an upstream link to downstream
// links (RFC 4389 section 4.1.3.3) and learns the downstream hosts that
// autoconfigure from them, for the NDP proxy to answer for.
package ra

import (
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/ndproxy/ndproxy/internal/icmp6"
)

// The flags of the RA header (RFC 4861 section 4.2,
// RFC 4389 section 4 for P, RFC 4191 section 2.2 for the preference).
const (
	flagManaged = 0x80
	flagOther   = 0x40
	// FlagProxy is the RFC 4389 "P" flag: the RA was sent by an ND proxy.
	FlagProxy = 0x04

	raFixedLen = 16 // type, code, checksum, hop limit, flags, lifetime, reachable, retrans
	rsFixedLen = 8
	nsFixedLen = 24
)

// Option types the relay looks into.
const (
	optSLLA   = 1  // RFC 4861 section 4.6.1
	optTLLA   = 2  // never valid in an RA
	optPrefix = 3  // RFC 4861 section 4.6.2
	optRedir  = 4  // never valid in an RA
	optMTU    = 5  // RFC 4861 section 4.6.4
	optNonce  = 14 // RFC 3971: belongs to the original sender only
	optRoute  = 24 // RFC 4191 section 2.3
	optRDNSS  = 25 // RFC 8106 section 5.1
	optDNSSL  = 31 // RFC 8106 section 5.2
	optPREF64 = 38 // RFC 8781 section 4
)

// infinity is the lifetime that never counts down (RFC 4861 section 4.6.2).
const infinity = 0xffffffff

// Message is a parsed Router Advertisement. Options keep their bytes, so that
// options the relay does not know pass through as they came.
type Message struct {
	CurHopLimit uint8
	// Flags is the flags byte: M, O, H, the router preference and P.
	Flags uint8
	// RouterLifetime is in seconds; 0 means "not a default router".
	RouterLifetime uint16
	Reachable      uint32 // ms
	Retrans        uint32 // ms
	Options        []Option
}

// Option is one ND option; Data is what follows the type and length bytes,
// 8*length-2 bytes long.
type Option struct {
	Type uint8
	Data []byte
}

// Drop reasons: why a received message was not acted on. They key the
// counters in status.
const (
	DropShort      = "short"
	DropType       = "icmp_type"
	DropCode       = "icmp_code"
	DropHopLimit   = "hop_limit"
	DropSource     = "bad_source"
	DropOption     = "bad_option"
	DropLoop       = "loop"
	DropHeldDown   = "held_down"
	DropTooMany    = "too_many_routers"
	DropNoDownlink = "unknown_link"
)

// ParseRA validates an ICMPv6 Router Advertisement (from its type byte on)
// against RFC 4861 section 6.1.2 and the option formats the relay rewrites.
// It returns the reason to drop it, or "" and the message. The hop limit and
// source address are checked by CheckHeader, as they are not in b.
func ParseRA(b []byte) (Message, string) {
	if len(b) < raFixedLen {
		return Message{}, DropShort
	}
	if b[0] != icmp6.TypeRA {
		return Message{}, DropType
	}
	if b[1] != 0 {
		return Message{}, DropCode
	}
	m := Message{
		CurHopLimit:    b[4],
		Flags:          b[5],
		RouterLifetime: binary.BigEndian.Uint16(b[6:8]),
		Reachable:      binary.BigEndian.Uint32(b[8:12]),
		Retrans:        binary.BigEndian.Uint32(b[12:16]),
	}
	opts, ok := parseOptions(b[raFixedLen:])
	if !ok {
		return Message{}, DropOption
	}
	seen := map[uint8]bool{}
	for _, o := range opts {
		if !validOption(o) {
			return Message{}, DropOption
		}
		// One source link-layer address and one MTU: two would leave the
		// receiver to guess which one counts.
		if (o.Type == optSLLA || o.Type == optMTU) && seen[o.Type] {
			return Message{}, DropOption
		}
		seen[o.Type] = true
	}
	m.Options = opts
	return m, ""
}

// parseOptions splits b into options; every option must have a length and
// fit (RFC 4861 section 4.6: a zero length is invalid and the packet dropped).
func parseOptions(b []byte) ([]Option, bool) {
	var opts []Option
	for len(b) > 0 {
		if len(b) < 8 || b[1] == 0 || int(b[1])*8 > len(b) {
			return nil, false
		}
		n := int(b[1]) * 8
		opts = append(opts, Option{Type: b[0], Data: append([]byte(nil), b[2:n]...)})
		b = b[n:]
	}
	return opts, true
}

// validOption checks the formats of the options the relay reads or rewrites,
// and refuses the ones that never belong in an RA.
func validOption(o Option) bool {
	n := len(o.Data) + 2 // the option's length in bytes
	switch o.Type {
	case optTLLA, optRedir:
		return false
	case optPrefix:
		return n == 32 && o.Data[0] <= 128
	case optMTU:
		return n == 8
	case optRoute:
		// RFC 4191 section 2.3: length 1, 2 or 3 as the prefix needs.
		if n > 24 || o.Data[0] > 128 {
			return false
		}
		need := 8
		switch {
		case o.Data[0] > 64:
			need = 24
		case o.Data[0] > 0:
			need = 16
		}
		return n >= need
	case optRDNSS:
		// Length 3 + 2 per address beyond the first: always odd, at least 3.
		return n >= 24 && (n/8)%2 == 1
	case optDNSSL:
		return n >= 16
	case optPREF64:
		return n == 16 && binary.BigEndian.Uint16(o.Data[0:2])&7 <= 5
	}
	return true
}

// Marshal builds the ICMPv6 message with a zero checksum: the kernel fills
// it in for raw ICMPv6 sockets.
func (m Message) Marshal() []byte {
	n := raFixedLen
	for _, o := range m.Options {
		n += len(o.Data) + 2
	}
	b := make([]byte, raFixedLen, n)
	b[0] = icmp6.TypeRA
	b[4] = m.CurHopLimit
	b[5] = m.Flags
	binary.BigEndian.PutUint16(b[6:8], m.RouterLifetime)
	binary.BigEndian.PutUint32(b[8:12], m.Reachable)
	binary.BigEndian.PutUint32(b[12:16], m.Retrans)
	for _, o := range m.Options {
		b = append(b, o.Type, uint8((len(o.Data)+2)/8))
		b = append(b, o.Data...)
	}
	return b
}

// CheckHeader checks what the IPv6 header of a received ND message must say
// (RFC 4861 sections 6.1.1 and 6.1.2): hop limit 255, and for an RA a
// link-local source. An RS may come from the unspecified address.
func CheckHeader(typ uint8, src netip.Addr, hops int) string {
	if hops != icmp6.HopLimit {
		return DropHopLimit
	}
	switch {
	case typ == icmp6.TypeRA && !src.IsLinkLocalUnicast():
		return DropSource
	case typ == icmp6.TypeRS && !src.IsLinkLocalUnicast() && !src.IsUnspecified() && !src.IsGlobalUnicast():
		return DropSource
	}
	return ""
}

// ParseRS validates a Router Solicitation (RFC 4861 section 6.1.1).
func ParseRS(b []byte, src netip.Addr) string {
	if len(b) < rsFixedLen {
		return DropShort
	}
	if b[0] != icmp6.TypeRS {
		return DropType
	}
	if b[1] != 0 {
		return DropCode
	}
	opts, ok := parseOptions(b[rsFixedLen:])
	if !ok {
		return DropOption
	}
	for _, o := range opts {
		// No source link-layer address from the unspecified address.
		if o.Type == optSLLA && src.IsUnspecified() {
			return DropOption
		}
	}
	return ""
}

// aged returns a copy of m with every lifetime counted down by elapsed, as
// a router answering from a cached RA must (RFC 4861 section 6.2.3 does not
// let a relay advertise more time than is left). Infinite lifetimes stay.
func (m Message) aged(elapsed time.Duration) Message {
	s := uint32(max(0, elapsed/time.Second))
	out := m
	out.RouterLifetime = uint16(countDown(uint32(m.RouterLifetime), s))
	out.Options = make([]Option, len(m.Options))
	for i, o := range m.Options {
		d := append([]byte(nil), o.Data...)
		switch o.Type {
		case optPrefix:
			putCountDown(d[2:6], s)
			putCountDown(d[6:10], s)
		case optRoute:
			putCountDown(d[2:6], s)
		case optRDNSS, optDNSSL:
			putCountDown(d[2:6], s)
		case optPREF64:
			// A 13-bit lifetime in units of 8 seconds, above the PLC.
			v := binary.BigEndian.Uint16(d[0:2])
			life := uint32(v>>3) * 8
			left := countDown(life, s) / 8
			binary.BigEndian.PutUint16(d[0:2], uint16(left)<<3|v&7)
		}
		out.Options[i] = Option{Type: o.Type, Data: d}
	}
	return out
}

func countDown(v, s uint32) uint32 {
	switch {
	case v == infinity:
		return v
	case v <= s:
		return 0
	}
	return v - s
}

func putCountDown(b []byte, s uint32) {
	binary.BigEndian.PutUint32(b, countDown(binary.BigEndian.Uint32(b), s))
}

// remaining is how long the longest finite lifetime of m lasts, and whether
// any lifetime is infinite: a cached RA is forgotten when nothing in it is
// left to advertise.
func (m Message) remaining() (time.Duration, bool) {
	longest := uint32(m.RouterLifetime)
	inf := false
	note := func(v uint32) {
		if v == infinity {
			inf = true
		} else {
			longest = max(longest, v)
		}
	}
	for _, o := range m.Options {
		switch o.Type {
		case optPrefix:
			note(binary.BigEndian.Uint32(o.Data[2:6]))
		case optRoute, optRDNSS, optDNSSL:
			note(binary.BigEndian.Uint32(o.Data[2:6]))
		case optPREF64:
			note(uint32(binary.BigEndian.Uint16(o.Data[0:2])>>3) * 8)
		}
	}
	return time.Duration(longest) * time.Second, inf
}
