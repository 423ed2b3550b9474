package bench

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/ndp"
	"golang.org/x/net/bpf"

	"github.com/ndproxy/ndproxy/internal/icmp6"
)

var testMAC = net.HardwareAddr{0x02, 0, 0, 0, 0xbe, 0x01}

// TestBuildNS checks the generator's solicitations against mdlayher/ndp,
// which builds the same message, checksum included, by other code.
func TestBuildNS(t *testing.T) {
	nb := nsBuilder{src: asker.Addr(), mac: testMAC}
	buf := make([]byte, nsLen)
	for _, target := range []netip.Addr{readyTarget, coldTargets[7], bulkTargets[3], netip.MustParseAddr("2001:db8:be:1:4f:ffff:ffff:ffff")} {
		pkt, mac := nb.build(buf, target)
		group, err := ndp.SolicitedNodeMulticast(target)
		if err != nil {
			t.Fatal(err)
		}
		if len(pkt) != nsLen {
			t.Fatalf("%v: %d bytes, want %d", target, len(pkt), nsLen)
		}
		hdr := struct {
			Version, NextHeader, HopLimit uint8
			PayloadLen                    uint16
			Src, Dst                      netip.Addr
		}{pkt[0] >> 4, pkt[6], pkt[7], binary.BigEndian.Uint16(pkt[4:6]),
			netip.AddrFrom16([16]byte(pkt[8:24])), netip.AddrFrom16([16]byte(pkt[24:40]))}
		want := hdr
		want.Version, want.NextHeader, want.HopLimit, want.PayloadLen = 6, 58, 255, 32
		want.Src, want.Dst = asker.Addr(), group
		if diff := cmp.Diff(want, hdr, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
			t.Errorf("%v: IPv6 header (-want +got):\n%s", target, diff)
		}
		g := group.As16()
		if wantMAC := (net.HardwareAddr{0x33, 0x33, 0xff, g[13], g[14], g[15]}); !bytes.Equal(mac, wantMAC) {
			t.Errorf("%v: sent to %v, want %v", target, mac, wantMAC)
		}
		ref, err := ndp.MarshalMessageChecksum(&ndp.NeighborSolicitation{
			TargetAddress: target,
			Options:       []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Source, Addr: testMAC}},
		}, asker.Addr(), group)
		if err != nil {
			t.Fatal(err)
		}
		if got := pkt[ipv6HeaderLen:]; !bytes.Equal(got, ref) {
			t.Errorf("%v: ICMPv6 message\n got %x\nwant %x (mdlayher/ndp)", target, got, ref)
		}
		if c := icmp6.Checksum(asker.Addr(), group, pkt[ipv6HeaderLen:]); c != 0 {
			t.Errorf("%v: checksum over the message is %#04x, want 0", target, c)
		}
	}
}

// na turns a built solicitation into an advertisement for the same target:
// what the filters and parsers need (type and target) and nothing more.
func na(target netip.Addr) []byte {
	pkt, _ := nsBuilder{src: asker.Addr(), mac: testMAC}.build(make([]byte, nsLen), target)
	pkt[offICMPType] = typeNA
	return pkt
}

func ns(target netip.Addr) []byte {
	pkt, _ := nsBuilder{src: asker.Addr(), mac: testMAC}.build(make([]byte, nsLen), target)
	return pkt
}

func TestFilters(t *testing.T) {
	sampledFlood := netip.MustParseAddr("2001:db8:be:1:43:1:2:3f0")
	notICMP := na(readyTarget)
	notICMP[offNextHeader] = 17
	for _, tt := range []struct {
		name   string
		filter []bpf.Instruction
		pkt    []byte
		want   bool
	}{
		{"timed NA", timedAnswers(), na(readyTarget), true},
		{"timed filter, bulk NA", timedAnswers(), na(bulkTargets[0]), false},
		{"timed filter, NS", timedAnswers(), ns(readyTarget), false},
		{"timed filter, not ICMPv6", timedAnswers(), notICMP, false},
		{"bulk NA", bulkAnswers(), na(bulkTargets[0]), true},
		{"bulk filter, timed NA", bulkAnswers(), na(coldTargets[0]), false},
		{"island NS", islandSolicits(), ns(coldTargets[0]), true},
		{"island filter, NA", islandSolicits(), na(coldTargets[0]), false},
		{"timed probe", timedProbes(), ns(coldTargets[0]), true},
		{"timed probe filter, flood NS", timedProbes(), ns(sampledFlood), false},
		{"sampled flood NS", sampledProbes(), ns(sampledFlood), true},
		{"sampled filter, last group", sampledProbes(), ns(netip.MustParseAddr("2001:db8:be:1:4f:1:2:300")), true},
		{"sampled filter, low bits set", sampledProbes(), ns(netip.MustParseAddr("2001:db8:be:1:43:1:2:301")), false},
		{"sampled filter, real target", sampledProbes(), ns(realTarget(groupTimed, 0x20)), false},
		{"sampled filter, NA", sampledProbes(), na(sampledFlood), false},
	} {
		vm, err := bpf.NewVM(tt.filter)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		n, err := vm.Run(tt.pkt)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got := n > 0; got != tt.want {
			t.Errorf("%s: accepted %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestParse(t *testing.T) {
	if got, err := parseNA(na(coldTargets[3])); err != nil || got != coldTargets[3] {
		t.Errorf("parseNA = %v, %v; want %v", got, err, coldTargets[3])
	}
	if _, err := parseNA(ns(coldTargets[3])); err == nil {
		t.Error("parseNA accepts a solicitation")
	}
	if got, err := parseNSTarget(ns(coldTargets[3])); err != nil || got != coldTargets[3] {
		t.Errorf("parseNSTarget = %v, %v; want %v", got, err, coldTargets[3])
	}
	if _, err := parseNA(na(readyTarget)[:ipv6HeaderLen+ndFixedLen-1]); err == nil {
		t.Error("parseNA accepts a truncated advertisement")
	}
}

// FuzzParse: the parsers of received packets never panic, and what they
// accept has the type they are for.
func FuzzParse(f *testing.F) {
	f.Add(na(readyTarget))
	f.Add(ns(readyTarget))
	f.Add([]byte{0x60})
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := parseNA(b); err == nil && b[offICMPType] != typeNA {
			t.Errorf("parseNA accepts ICMPv6 type %d", b[offICMPType])
		}
		if _, err := parseNSTarget(b); err == nil && b[offICMPType] != typeNS {
			t.Errorf("parseNSTarget accepts ICMPv6 type %d", b[offICMPType])
		}
	})
}

func TestFloodTarget(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	real := map[netip.Addr]bool{}
	for _, a := range allReal() {
		if !proxied.Contains(a) {
			t.Fatalf("real target %v outside %v", a, proxied)
		}
		real[a] = true
	}
	sampled := 0
	for range 10000 {
		a := floodTarget(rng)
		b := a.As16()
		group := uint16(b[8])<<8 | uint16(b[9])
		if !proxied.Contains(a) || group < groupFlood || real[a] {
			t.Fatalf("flood target %v: outside %v, or in a real target's group", a, proxied)
		}
		if b[targetLastOff]&sampleMask == 0 {
			sampled++
		}
	}
	if sampled < 500 || sampled > 750 { // about 625 of 10000
		t.Errorf("%d of 10000 flood targets are sampled, want about 1 in 16", sampled)
	}
}
