package proxy

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"testing"

	"github.com/mdlayher/ndp"

	"github.com/ndproxy/ndproxy/internal/icmp6"
)

var (
	routerLL = netip.MustParseAddr("fe80::1")
	pi41     = netip.MustParseAddr("2001:db8:abc:123:41::1")
	routerMA = net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
)

// nsPacket builds an NS the way a host's kernel does, with optional damage.
func nsPacket(t testing.TB, src, dst, target netip.Addr, hop uint8, opts []ndp.Option) []byte {
	t.Helper()
	icmp, err := ndp.MarshalMessageChecksum(&ndp.NeighborSolicitation{TargetAddress: target, Options: opts}, src, dst)
	if err != nil {
		t.Fatal(err)
	}
	b := appendIPv6Header(nil, src, dst, len(icmp))
	b[7] = hop
	return append(b, icmp...)
}

func slla(mac net.HardwareAddr) []ndp.Option {
	return []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Source, Addr: mac}}
}

func TestParseNS(t *testing.T) {
	snm := solicitedNode(pi41)
	good := nsPacket(t, routerLL, snm, pi41, 255, slla(routerMA))
	corrupt := bytes.Clone(good)
	corrupt[len(corrupt)-1] ^= 0xff
	code := bytes.Clone(good)
	code[41] = 1
	zeroOpt := nsPacket(t, routerLL, snm, pi41, 255, nil)
	zeroOpt = append(zeroOpt, 1, 0, 0, 0, 0, 0, 0, 0)
	zeroOpt[5] += 8
	padded := append(bytes.Clone(good), 0, 0, 0, 0)
	ext := bytes.Clone(good)
	ext[6] = 0 // hop-by-hop

	tests := []struct {
		name string
		pkt  []byte
		want dropReason
	}{
		{"multicast with SLLA", good, dropNone},
		{"ethernet padding", padded, dropNone},
		{"unicast NUD", nsPacket(t, routerLL, pi41, pi41, 255, nil), dropNone},
		{"DAD", nsPacket(t, netip.IPv6Unspecified(), snm, pi41, 255, nil), dropNone},
		{"forwarded (hop limit 254)", nsPacket(t, routerLL, snm, pi41, 254, slla(routerMA)), dropHopLimit},
		{"bad checksum", corrupt, dropChecksum},
		{"code 1", code, dropCode},
		{"zero-length option", zeroOpt, dropChecksum},
		{"extension header", ext, dropNextHeader},
		{"truncated", good[:50], dropShort},
		{"DAD with SLLA", nsPacket(t, netip.IPv6Unspecified(), snm, pi41, 255, slla(routerMA)), dropDAD},
		{"DAD to all-nodes", nsPacket(t, netip.IPv6Unspecified(), allNodes, pi41, 255, nil), dropDAD},
		{"wrong group", nsPacket(t, routerLL, solicitedNode(netip.MustParseAddr("2001:db8::abcd")), pi41, 255, nil), dropDestination},
		{"unicast to other address", nsPacket(t, routerLL, routerLL, pi41, 255, nil), dropDestination},
		{"multicast target", nsPacket(t, routerLL, allNodes, allNodes, 255, nil), dropTarget},
		{"multicast source", nsPacket(t, allNodes, snm, pi41, 255, nil), dropSource},
		{"SLLA of 16 bytes", nsPacket(t, routerLL, snm, pi41, 255, []ndp.Option{&ndp.RawOption{Type: optSLLA, Length: 2, Value: make([]byte, 14)}}), dropOption},
		{"TLLA of 16 bytes", nsPacket(t, routerLL, snm, pi41, 255, []ndp.Option{&ndp.RawOption{Type: optTLLA, Length: 2, Value: make([]byte, 14)}}), dropOption},
		// Options it has no use for are not looked into (RFC 4861 section
		// 4.6): here an MTU option of the wrong length and a nonce.
		{"odd options ignored", nsPacket(t, routerLL, snm, pi41, 255, []ndp.Option{
			&ndp.RawOption{Type: 5, Length: 2, Value: make([]byte, 14)},
			&ndp.RawOption{Type: 14, Length: 1, Value: []byte{1, 2, 3, 4, 5, 6}},
		}), dropNone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns, got := parseNS(tt.pkt)
			if got != tt.want {
				t.Fatalf("parseNS = %q, want %q", got, tt.want)
			}
			if got == dropNone && ns.Target != pi41 {
				t.Fatalf("target = %s, want %s", ns.Target, pi41)
			}
		})
	}
}

func TestParseNSChecksOptionsAndCodeBehindAValidChecksum(t *testing.T) {
	snm := solicitedNode(pi41)
	// Re-sign damaged messages so that only the field under test is wrong.
	resign := func(b []byte) []byte {
		b[42], b[43] = 0, 0
		c := icmp6.Checksum(routerLL, snm, b[40:])
		b[42], b[43] = byte(c>>8), byte(c)
		return b
	}
	code := nsPacket(t, routerLL, snm, pi41, 255, nil)
	code[41] = 1
	if _, got := parseNS(resign(code)); got != dropCode {
		t.Errorf("code 1: got %q, want %q", got, dropCode)
	}
	zero := nsPacket(t, routerLL, snm, pi41, 255, nil)
	zero = append(zero, 1, 0, 0, 0, 0, 0, 0, 0)
	zero[5] += 8
	if _, got := parseNS(resign(zero)); got != dropOption {
		t.Errorf("zero-length option: got %q, want %q", got, dropOption)
	}
}

func TestBuildNA(t *testing.T) {
	mac := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x31}
	pkt := appendNA(nil, advert{Src: routerLL, Dst: pi41, Target: pi41, Solicited: true, Override: true, TLLA: mac})
	if pkt[7] != 255 || pkt[6] != 58 || int(pkt[4])<<8|int(pkt[5]) != len(pkt)-40 {
		t.Fatalf("bad IPv6 header % x", pkt[:8])
	}
	if c := icmp6.Checksum(routerLL, pi41, pkt[40:]); c != 0 {
		t.Fatalf("checksum does not verify: %#x", c)
	}
	m, err := ndp.ParseMessage(pkt[40:])
	if err != nil {
		t.Fatal(err)
	}
	na := m.(*ndp.NeighborAdvertisement)
	if na.TargetAddress != pi41 || !na.Solicited || !na.Override || na.Router {
		t.Fatalf("NA = %+v", na)
	}
	if len(na.Options) != 1 || !bytes.Equal(na.Options[0].(*ndp.LinkLayerAddress).Addr, mac) {
		t.Fatalf("options = %+v, want TLLA %s", na.Options, mac)
	}
}

// TestBuildMatchesLibrary holds the hand-built messages to mdlayher/ndp's
// encoding of the same message, byte for byte.
func TestBuildMatchesLibrary(t *testing.T) {
	mac := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x31}
	type msg struct {
		name     string
		got      []byte
		src, dst netip.Addr
		want     ndp.Message
	}
	lla := func(d ndp.Direction) []ndp.Option {
		return []ndp.Option{&ndp.LinkLayerAddress{Direction: d, Addr: mac}}
	}
	var msgs []msg
	for _, flags := range []struct{ r, s, o bool }{{}, {true, false, false}, {false, true, false}, {false, false, true}, {true, true, true}} {
		a := advert{Src: routerLL, Dst: pi41, Target: pi41, Router: flags.r, Solicited: flags.s, Override: flags.o}
		want := &ndp.NeighborAdvertisement{Router: flags.r, Solicited: flags.s, Override: flags.o, TargetAddress: pi41}
		msgs = append(msgs, msg{fmt.Sprintf("NA %+v without TLLA", flags), appendNA(nil, a), routerLL, pi41, want})
		a.TLLA = mac
		withTLLA := *want
		withTLLA.Options = lla(ndp.Target)
		msgs = append(msgs, msg{fmt.Sprintf("NA %+v", flags), appendNA([]byte{}, a), routerLL, pi41, &withTLLA})
	}
	snm := solicitedNode(pi41)
	msgs = append(msgs,
		msg{"NS", appendNS(nil, routerLL, pi41, mac), routerLL, snm, &ndp.NeighborSolicitation{TargetAddress: pi41, Options: lla(ndp.Source)}},
		msg{"NS without SLLA", appendNS(nil, routerLL, pi41, nil), routerLL, snm, &ndp.NeighborSolicitation{TargetAddress: pi41}},
	)
	for _, m := range msgs {
		icmp, err := ndp.MarshalMessageChecksum(m.want, m.src, m.dst)
		if err != nil {
			t.Fatal(err)
		}
		want := append(appendIPv6Header(nil, m.src, m.dst, len(icmp)), icmp...)
		if !bytes.Equal(m.got, want) {
			t.Errorf("%s:\n got % x\nwant % x", m.name, m.got, want)
		}
	}
	// Appending keeps what the buffer held.
	if got := appendNS([]byte{1, 2}, routerLL, pi41, mac); got[0] != 1 || got[1] != 2 || len(got) != 2+ndpLen {
		t.Errorf("appendNS onto two bytes: % x", got)
	}
}

// TestBuildNS checks a probe against the NS parser, which holds it to
// RFC 4861 section 7.1.1 as a host's kernel would.
func TestBuildNS(t *testing.T) {
	mac := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x31}
	pkt := appendNS(nil, routerLL, pi41, mac)
	ns, why := parseNS(pkt)
	if why != dropNone {
		t.Fatalf("parseNS(buildNS(...)) dropped it: %q", why)
	}
	if want := (solicitation{Src: routerLL, Dst: solicitedNode(pi41), Target: pi41}); ns != want {
		t.Fatalf("parseNS(buildNS(...)) = %+v, want %+v", ns, want)
	}
	m, err := ndp.ParseMessage(pkt[40:])
	if err != nil {
		t.Fatal(err)
	}
	opts := m.(*ndp.NeighborSolicitation).Options
	if len(opts) != 1 || opts[0].(*ndp.LinkLayerAddress).Direction != ndp.Source || !bytes.Equal(opts[0].(*ndp.LinkLayerAddress).Addr, mac) {
		t.Fatalf("options = %+v, want SLLA %s", opts, mac)
	}
}

func TestSolicitedNode(t *testing.T) {
	got := solicitedNode(netip.MustParseAddr("2001:db8::abcd:1234:5678"))
	if want := netip.MustParseAddr("ff02::1:ff34:5678"); got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	if mac := multicastMAC(got).String(); mac != "33:33:ff:34:56:78" {
		t.Fatalf("mac = %s", mac)
	}
}

// FuzzParseNS: no input panics, and an accepted solicitation rebuilt from its
// fields parses to the same fields.
func FuzzParseNS(f *testing.F) {
	snm := solicitedNode(pi41)
	f.Add(nsPacket(f, routerLL, snm, pi41, 255, slla(routerMA)))
	f.Add(nsPacket(f, routerLL, pi41, pi41, 255, nil))
	f.Add(nsPacket(f, netip.IPv6Unspecified(), snm, pi41, 255, nil))
	f.Add([]byte{0x60})
	f.Fuzz(func(t *testing.T, b []byte) {
		ns, why := parseNS(b)
		if why != dropNone {
			return
		}
		again, why := parseNS(nsPacket(t, ns.Src, ns.Dst, ns.Target, 255, nil))
		if why != dropNone || again != ns {
			t.Fatalf("rebuilt %+v parsed to %+v (%q)", ns, again, why)
		}
	})
}

func TestParseNA(t *testing.T) {
	pkt := appendNA(nil, advert{Src: routerLL, Dst: pi41, Target: pi41, Solicited: true, TLLA: routerMA})
	icmp := pkt[40:]
	if got, ok := parseNA(icmp); !ok || got != pi41 {
		t.Fatalf("parseNA = %v, %v", got, ok)
	}
	code := bytes.Clone(icmp)
	code[1] = 1
	zeroOpt := append(bytes.Clone(icmp[:24]), 2, 0, 0, 0, 0, 0, 0, 0)
	mcast := bytes.Clone(icmp)
	copy(mcast[8:24], allNodes.AsSlice())
	// A link-layer address of eight bytes (IEEE 802.15.4) takes two units.
	long := append(bytes.Clone(icmp[:24]), optTLLA, 2, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0, 0)
	if got, ok := parseNA(long); !ok || got != pi41 {
		t.Errorf("parseNA with a two-unit TLLA = %v, %v", got, ok)
	}
	for name, b := range map[string][]byte{"code": code, "zero-length option": zeroOpt, "multicast target": mcast, "short": icmp[:20], "NS": nsPacket(t, routerLL, pi41, pi41, 255, nil)[40:]} {
		if _, ok := parseNA(b); ok {
			t.Errorf("%s: accepted", name)
		}
	}
}

// FuzzParseNA: no input panics, and an accepted advertisement's target
// survives a rebuild.
func FuzzParseNA(f *testing.F) {
	pkt := appendNA(nil, advert{Src: routerLL, Dst: pi41, Target: pi41, Solicited: true, TLLA: routerMA})
	f.Add(pkt[40:])
	f.Add([]byte{136, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		target, ok := parseNA(b)
		if !ok {
			return
		}
		again := appendNA(nil, advert{Src: routerLL, Dst: pi41, Target: target})
		if got, ok := parseNA(again[40:]); !ok || got != target {
			t.Fatalf("rebuilt target %v parsed to %v, %v", target, got, ok)
		}
	})
}
