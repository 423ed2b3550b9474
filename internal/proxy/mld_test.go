package proxy

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"testing"

	"github.com/ndproxy/ndproxy/internal/config"
	"github.com/ndproxy/ndproxy/internal/icmp6"
)

var hostLL = netip.MustParseAddr("fe80::41")

// mldPacket wraps an MLD message in IPv6 with the hop-by-hop Router Alert
// header, hop limit 1 and a correct checksum, as a host sends it.
func mldPacket(src, dst netip.Addr, hopLimit byte, icmp []byte) []byte {
	icmp = slices.Clone(icmp)
	binary.BigEndian.PutUint16(icmp[2:4], 0)
	binary.BigEndian.PutUint16(icmp[2:4], icmp6.Checksum(src, dst, icmp))
	b := []byte{0x60, 0, 0, 0}
	b = binary.BigEndian.AppendUint16(b, uint16(8+len(icmp)))
	b = append(b, 0, hopLimit)
	b = append(b, src.AsSlice()...)
	b = append(b, dst.AsSlice()...)
	b = append(b, icmp6.Proto, 0, hbhRouterAlert, 2, 0, 0, 1, 0)
	return append(b, icmp...)
}

type record struct {
	typ     byte
	group   netip.Addr
	sources int
}

// v2Report builds an MLDv2 report's ICMPv6 part (checksum left to mldPacket).
func v2Report(recs ...record) []byte {
	b := []byte{mldV2Report, 0, 0, 0, 0, 0}
	b = binary.BigEndian.AppendUint16(b, uint16(len(recs)))
	for _, r := range recs {
		b = append(b, r.typ, 0)
		b = binary.BigEndian.AppendUint16(b, uint16(r.sources))
		b = append(b, r.group.AsSlice()...)
		for range r.sources {
			b = append(b, hostLL.AsSlice()...)
		}
	}
	return b
}

func v1(typ byte, group netip.Addr) []byte {
	return append([]byte{typ, 0, 0, 0, 0, 0, 0, 0}, group.AsSlice()...)
}

var mldv2Routers = netip.MustParseAddr("ff02::16")

func TestParseMLD(t *testing.T) {
	sn41 := solicitedNode(pi41)
	suffix41 := suffixOf(pi41)
	other := netip.MustParseAddr("ff02::fb") // mDNS: not a solicited-node group
	for _, tt := range []struct {
		name string
		pkt  []byte
		want []groupChange
		why  dropReason
	}{
		{"v2 join, as Linux reports a new address", mldPacket(hostLL, mldv2Routers, 1, v2Report(record{recToExclude, sn41, 0})),
			[]groupChange{{suffix41, true}}, dropNone},
		{"v2 answer to a query, other groups skipped", mldPacket(hostLL, mldv2Routers, 1, v2Report(record{recIsExclude, other, 0}, record{recIsExclude, sn41, 0})),
			[]groupChange{{suffix41, true}}, dropNone},
		{"v2 leave", mldPacket(hostLL, mldv2Routers, 1, v2Report(record{recToInclude, sn41, 0})),
			[]groupChange{{suffix41, false}}, dropNone},
		{"v2 include with sources listens", mldPacket(hostLL, mldv2Routers, 1, v2Report(record{recAllowNew, sn41, 1})),
			[]groupChange{{suffix41, true}}, dropNone},
		{"during DAD the source is unspecified", mldPacket(netip.IPv6Unspecified(), mldv2Routers, 1, v2Report(record{recToExclude, sn41, 0})),
			[]groupChange{{suffix41, true}}, dropNone},
		{"v1 report", mldPacket(hostLL, sn41, 1, v1(mldV1Report, sn41)), []groupChange{{suffix41, true}}, dropNone},
		{"v1 done", mldPacket(hostLL, netip.MustParseAddr("ff02::2"), 1, v1(mldV1Done, sn41)), []groupChange{{suffix41, false}}, dropNone},
		{"routed: hop limit 255", mldPacket(hostLL, mldv2Routers, 255, v2Report(record{recToExclude, sn41, 0})), nil, dropHopLimit},
		{"global source", mldPacket(pi41, mldv2Routers, 1, v2Report(record{recToExclude, sn41, 0})), nil, dropSource},
		{"unknown record type", mldPacket(hostLL, mldv2Routers, 1, v2Report(record{9, sn41, 0})), nil, dropOption},
		{"short", mldPacket(hostLL, mldv2Routers, 1, v2Report(record{recToExclude, sn41, 0}))[:60], nil, dropShort},
	} {
		got, why := parseMLD(tt.pkt)
		if why != tt.why || !slices.Equal(got, tt.want) {
			t.Errorf("%s: parseMLD = %v, %q; want %v, %q", tt.name, got, why, tt.want, tt.why)
		}
	}

	bad := mldPacket(hostLL, mldv2Routers, 1, v2Report(record{recToExclude, sn41, 0}))
	bad[len(bad)-1] ^= 1
	if _, why := parseMLD(bad); why != dropChecksum {
		t.Errorf("corrupted report: %q, want %q", why, dropChecksum)
	}
	noRA := mldPacket(hostLL, mldv2Routers, 1, v2Report(record{recToExclude, sn41, 0}))
	noRA[icmp6.IPv6HeaderLen+2] = 1 // PadN instead of Router Alert
	if _, why := parseMLD(noRA); why != dropOption {
		t.Errorf("report without Router Alert: %q, want %q", why, dropOption)
	}
}

// FuzzParseMLD: any bytes parse without panic into solicited-node suffixes
// (24 bits), and a report built from what was understood parses back to it.
func FuzzParseMLD(f *testing.F) {
	sn := solicitedNode(pi41)
	f.Add(mldPacket(hostLL, mldv2Routers, 1, v2Report(record{recToExclude, sn, 0}, record{recToInclude, sn, 0})))
	f.Add(mldPacket(hostLL, sn, 1, v1(mldV1Report, sn)))
	f.Add(mldPacket(hostLL, mldv2Routers, 1, v2Report(record{recAllowNew, sn, 2})))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, why := parseMLD(b)
		if why != dropNone && got != nil {
			t.Fatalf("dropped (%q) but returned %v", why, got)
		}
		var recs []record
		for _, c := range got {
			if c.suffix >= 1<<24 {
				t.Fatalf("suffix %#x is more than 24 bits", c.suffix)
			}
			a := sn.As16()
			a[13], a[14], a[15] = byte(c.suffix>>16), byte(c.suffix>>8), byte(c.suffix)
			typ := byte(recToExclude)
			if !c.joined {
				typ = recToInclude
			}
			recs = append(recs, record{typ, netip.AddrFrom16(a), 0})
		}
		again, why := parseMLD(mldPacket(hostLL, mldv2Routers, 1, v2Report(recs...)))
		if why != dropNone || !slices.Equal(again, got) {
			t.Fatalf("rebuilt %v: parsed back as %v, %q", got, again, why)
		}
	})
}

func TestListenersBounded(t *testing.T) {
	l := newListeners()
	now := t0
	for i := range maxListened + 100 {
		l.apply([]groupChange{{uint32(i), true}}, now)
	}
	if len(l.seen) != maxListened {
		t.Fatalf("%d groups held, want %d", len(l.seen), maxListened)
	}
	if l.has(addrN(0), now) {
		t.Error("the oldest report is still held")
	}
	l.apply([]groupChange{{suffixOf(pi41), true}}, now)
	if !l.has(pi41, now) || l.has(pi41, now.Add(listenerHold)) {
		t.Error("a report is held for listenerHold")
	}
	l.apply([]groupChange{{suffixOf(pi41), false}}, now)
	if l.has(pi41, now) {
		t.Error("a leave is forgotten")
	}
}

// TestCoreReportedHostDuringAFlood: the upstream router is the only asker and
// spends its budget on a flood; a new host whose group was reported
// downstream is still probed on the first ask, one that reported nothing is
// turned away as before (the priority is no filter: it is probed once asked
// again, TestCoreAskedAgainDuringAFlood).
func TestCoreReportedHostDuringAFlood(t *testing.T) {
	pi42 := netip.MustParseAddr("2001:db8:abc:123:41::2")
	for _, reported := range []bool{true, false} {
		r := &recorder{}
		c := newCore(testSpec(config.VerifyProbe), r)
		router := netip.MustParseAddr("fe80::1")
		now := t0
		c.handleMLD([]groupChange{{suffixOf(pi42), true}}, now)
		if reported {
			c.handleMLD([]groupChange{{suffixOf(pi41), true}}, now)
		}
		for i := range 1000 {
			c.handleNS(ns(router, addrN(i)), nil, now)
		}
		r.take()
		c.handleNS(ns(router, pi41), nil, now)
		if reported {
			want(t, r, "a reported host asked for once during the flood is probed", "probe 2001:db8:abc:123:41::1 on 3")
		} else {
			want(t, r, "without its report it is turned away on the first ask")
		}
	}
}
