package ra

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/ndp"
	"github.com/ndproxy/ndproxy/internal/icmp6"
)

var (
	upMAC   = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x01}
	downMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x02}
)

// upstreamRA is what radvd on the ISP router sends in the S1 tests, built by
// an independent encoder (mdlayher/ndp).
func upstreamRA(t testing.TB) []byte {
	t.Helper()
	pref64, _ := netip.ParsePrefix("64:ff9b::/96")
	b, err := ndp.MarshalMessage(&ndp.RouterAdvertisement{
		CurrentHopLimit:           64,
		OtherConfiguration:        true,
		RouterLifetime:            1800 * time.Second,
		ReachableTime:             30 * time.Second,
		RetransmitTimer:           time.Second,
		RouterSelectionPreference: ndp.High,
		Options: []ndp.Option{
			&ndp.LinkLayerAddress{Direction: ndp.Source, Addr: upMAC},
			ndp.NewMTU(1500),
			&ndp.PrefixInformation{PrefixLength: 64, OnLink: true, AutonomousAddressConfiguration: true,
				ValidLifetime: 86400 * time.Second, PreferredLifetime: 14400 * time.Second,
				Prefix: netip.MustParseAddr("2001:db8:abc:123::")},
			&ndp.RecursiveDNSServer{Lifetime: 600 * time.Second, Servers: []netip.Addr{
				netip.MustParseAddr("fe80::1"), netip.MustParseAddr("2001:db8:abc:123::53")}},
			&ndp.DNSSearchList{Lifetime: 600 * time.Second, DomainNames: []string{"home.arpa"}},
			&ndp.RouteInformation{PrefixLength: 48, Preference: ndp.Medium, RouteLifetime: 1800 * time.Second,
				Prefix: netip.MustParseAddr("2001:db8:aaaa::")},
			&ndp.PREF64{Lifetime: 600 * time.Second, Prefix: pref64},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseRAAgreesWithNDP(t *testing.T) {
	b := upstreamRA(t)
	m, why := ParseRA(b)
	if why != "" {
		t.Fatalf("ParseRA: %s", why)
	}
	if m.CurHopLimit != 64 || m.RouterLifetime != 1800 || m.Reachable != 30000 || m.Retrans != 1000 || m.Flags != flagOther|0x08 {
		t.Errorf("header = %+v", m)
	}
	if got, want := len(m.Options), 7; got != want {
		t.Fatalf("%d options, want %d", got, want)
	}
	if got := m.Marshal(); !cmp.Equal(got, b) {
		t.Errorf("Marshal differs from the input:\n%s", cmp.Diff(b, got))
	}
}

func TestParseRARejects(t *testing.T) {
	good := upstreamRA(t)
	mut := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	for _, tc := range []struct {
		name string
		b    []byte
		want string
	}{
		{"short", good[:10], DropShort},
		{"not an RA", mut(func(b []byte) []byte { b[0] = icmp6.TypeRS; return b }), DropType},
		{"code", mut(func(b []byte) []byte { b[1] = 1; return b }), DropCode},
		{"zero-length option", mut(func(b []byte) []byte { b[17] = 0; return b }), DropOption},
		{"option past the end", mut(func(b []byte) []byte { b[17] = 200; return b }), DropOption},
		{"truncated option", good[:len(good)-3], DropOption},
		{"target link-layer option", mut(func(b []byte) []byte { b[16] = optTLLA; return b }), DropOption},
		{"prefix length 129", mut(func(b []byte) []byte { b[16+8+8+2] = 129; return b }), DropOption},
		{"two MTUs", append(append([]byte(nil), good...), optMTU, 1, 0, 0, 0, 0, 5, 0), DropOption},
		{"even RDNSS length", append(append([]byte(nil), good...), optRDNSS, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), DropOption},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, why := ParseRA(tc.b); why != tc.want {
				t.Errorf("ParseRA = %q, want %q", why, tc.want)
			}
		})
	}
}

func TestCheckHeader(t *testing.T) {
	ll, global := netip.MustParseAddr("fe80::1"), netip.MustParseAddr("2001:db8::1")
	for _, tc := range []struct {
		typ  uint8
		src  netip.Addr
		hops int
		want string
	}{
		{icmp6.TypeRA, ll, 255, ""},
		{icmp6.TypeRA, ll, 254, DropHopLimit},
		{icmp6.TypeRA, global, 255, DropSource},
		{icmp6.TypeRS, netip.IPv6Unspecified(), 255, ""},
		{icmp6.TypeRS, ll, 64, DropHopLimit},
		{icmp6.TypeRS, netip.MustParseAddr("ff02::1"), 255, DropSource},
	} {
		if got := CheckHeader(tc.typ, tc.src, tc.hops); got != tc.want {
			t.Errorf("CheckHeader(%d, %s, %d) = %q, want %q", tc.typ, tc.src, tc.hops, got, tc.want)
		}
	}
}

// parseNDP reads b with mdlayher/ndp, the independent parser.
func parseNDP(t *testing.T, b []byte) *ndp.RouterAdvertisement {
	t.Helper()
	m, err := ndp.ParseMessage(b)
	if err != nil {
		t.Fatalf("ndp.ParseMessage: %v", err)
	}
	ra, ok := m.(*ndp.RouterAdvertisement)
	if !ok {
		t.Fatalf("not an RA: %T", m)
	}
	return ra
}

func TestRewrite(t *testing.T) {
	m, _ := ParseRA(upstreamRA(t))
	eth := Link{Index: 3, Name: "eth0", MAC: downMAC, MTU: 1400}
	wg := Link{Index: 4, Name: "wg0", MTU: 1420}

	got := parseNDP(t, rewrite(m, eth, Settings{Interval: time.Minute}).Marshal())
	if !got.NeighborDiscoveryProxy {
		t.Error("P flag not set")
	}
	if got.RouterSelectionPreference != ndp.High || !got.OtherConfiguration || got.RouterLifetime != 1800*time.Second {
		t.Errorf("header not kept: %+v", got)
	}
	var kinds []string
	for _, o := range got.Options {
		switch o := o.(type) {
		case *ndp.LinkLayerAddress:
			kinds = append(kinds, "slla")
			if o.Addr.String() != downMAC.String() {
				t.Errorf("SLLA %s, want the downstream's %s", o.Addr, downMAC)
			}
		case *ndp.MTU:
			kinds = append(kinds, "mtu")
			if o.MTU != 1400 {
				t.Errorf("MTU %d, want clamped to 1400", o.MTU)
			}
		case *ndp.PrefixInformation:
			kinds = append(kinds, "prefix")
			if o.OnLink || !o.AutonomousAddressConfiguration {
				t.Errorf("prefix flags L=%v A=%v, want L cleared and A kept", o.OnLink, o.AutonomousAddressConfiguration)
			}
		case *ndp.RecursiveDNSServer:
			kinds = append(kinds, "rdnss")
			if want := []netip.Addr{netip.MustParseAddr("2001:db8:abc:123::53")}; !cmp.Equal(o.Servers, want, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })) {
				t.Errorf("RDNSS %v, want the link-local one dropped: %v", o.Servers, want)
			}
		case *ndp.DNSSearchList:
			kinds = append(kinds, "dnssl")
		case *ndp.RouteInformation:
			kinds = append(kinds, "rio")
		case *ndp.PREF64:
			kinds = append(kinds, "pref64")
		default:
			kinds = append(kinds, "other")
		}
	}
	if want := []string{"slla", "mtu", "prefix", "rdnss", "dnssl", "rio", "pref64"}; !cmp.Equal(kinds, want) {
		t.Errorf("options (-want +got):\n%s", cmp.Diff(want, kinds))
	}

	// WireGuard: no SLLA, MTU clamped to 1420; ra_onlink keeps L; ra_dns
	// replaces the servers.
	dns := []netip.Addr{netip.MustParseAddr("2001:db8::53")}
	got = parseNDP(t, rewrite(m, wg, Settings{OnLink: true, DNS: dns, Interval: time.Minute}).Marshal())
	for _, o := range got.Options {
		switch o := o.(type) {
		case *ndp.LinkLayerAddress:
			t.Error("SLLA on a link without link-layer addresses")
		case *ndp.MTU:
			if o.MTU != 1420 {
				t.Errorf("MTU %d, want 1420", o.MTU)
			}
		case *ndp.PrefixInformation:
			if !o.OnLink {
				t.Error("L cleared with OnLink set")
			}
		case *ndp.RecursiveDNSServer:
			if len(o.Servers) != 1 || o.Servers[0] != dns[0] || o.Lifetime != 3*time.Minute {
				t.Errorf("RDNSS %v lifetime %v, want %v for 3m", o.Servers, o.Lifetime, dns)
			}
		}
	}
}

func TestRewriteFitsMTU(t *testing.T) {
	m, _ := ParseRA(upstreamRA(t))
	for i := 0; i < 100; i++ {
		m.Options = append(m.Options, Option{Type: 200, Data: make([]byte, 14)})
	}
	out := rewrite(m, Link{MAC: downMAC, MTU: 1280}, Settings{}).Marshal()
	if len(out)+40 > 1280 {
		t.Errorf("RA of %d bytes on a 1280-byte link", len(out)+40)
	}
	if _, why := ParseRA(out); why != "" {
		t.Errorf("trimmed RA does not parse: %s", why)
	}
}

func TestAged(t *testing.T) {
	m, _ := ParseRA(upstreamRA(t))
	a := m.aged(100 * time.Second)
	if a.RouterLifetime != 1700 {
		t.Errorf("router lifetime %d, want 1700", a.RouterLifetime)
	}
	got := parseNDP(t, a.Marshal())
	for _, o := range got.Options {
		switch o := o.(type) {
		case *ndp.PrefixInformation:
			if o.ValidLifetime != 86300*time.Second || o.PreferredLifetime != 14300*time.Second {
				t.Errorf("prefix lifetimes %v %v", o.ValidLifetime, o.PreferredLifetime)
			}
		case *ndp.RecursiveDNSServer:
			if o.Lifetime != 500*time.Second {
				t.Errorf("RDNSS lifetime %v", o.Lifetime)
			}
		case *ndp.PREF64:
			if o.Lifetime != 496*time.Second { // 500 s in units of 8 s, rounded down
				t.Errorf("PREF64 lifetime %v", o.Lifetime)
			}
		}
	}
	if a := m.aged(time.Hour); a.RouterLifetime != 0 {
		t.Errorf("router lifetime after an hour %d, want 0", a.RouterLifetime)
	}
	if rem, inf := m.aged(90000 * time.Second).remaining(); rem != 0 || inf {
		t.Errorf("remaining after all lifetimes = %v %v", rem, inf)
	}
	// Infinite stays infinite.
	inf := Message{Options: []Option{{Type: optPrefix, Data: make([]byte, 30)}}}
	binary.BigEndian.PutUint32(inf.Options[0].Data[2:6], infinity)
	if _, isInf := inf.aged(time.Hour).remaining(); !isInf {
		t.Error("an infinite valid lifetime counted down")
	}
}

func TestMerge(t *testing.T) {
	a, _ := ParseRA(upstreamRA(t))
	b := a.aged(0)
	b.RouterLifetime = 0
	b.Options = append(b.Options, Option{Type: optMTU, Data: []byte{0, 0, 0, 0, 0x05, 0x00}}) // 1280
	b.Options = b.Options[1:]                                                                 // no SLLA
	got := merge([]Message{a, b})
	if got.RouterLifetime != 1800 {
		t.Errorf("router lifetime %d, want the longest, 1800", got.RouterLifetime)
	}
	n := map[uint8]int{}
	for _, o := range got.Options {
		n[o.Type]++
		if o.Type == optMTU && binary.BigEndian.Uint32(o.Data[2:6]) != 1280 {
			t.Errorf("merged MTU %d, want the smallest", binary.BigEndian.Uint32(o.Data[2:6]))
		}
	}
	if n[optPrefix] != 1 || n[optMTU] != 1 || n[optSLLA] != 0 {
		t.Errorf("merged options by type %v: each prefix and the MTU once, no SLLA", n)
	}
}

func FuzzParseRA(f *testing.F) {
	f.Add(upstreamRA(f))
	m, _ := ParseRA(upstreamRA(f))
	m.Options = m.Options[:3]
	f.Add(m.Marshal())
	f.Add([]byte{icmp6.TypeRA, 0, 0, 0, 64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{icmp6.TypeRA, 0, 0, 0, 64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, why := ParseRA(b)
		if why != "" {
			return
		}
		// Parse → build → parse is stable, and so is what the relay makes
		// of it: every RA it sends parses again, carries P, fits the link.
		again, why := ParseRA(m.Marshal())
		if why != "" || !cmp.Equal(m, again) {
			t.Fatalf("reparse: %q\n%s", why, cmp.Diff(m, again))
		}
		for _, l := range []Link{{MAC: downMAC, MTU: 1280}, {MTU: 1420}} {
			out := rewrite(merge([]Message{m.aged(time.Minute)}), l, Settings{DNS: []netip.Addr{netip.MustParseAddr("2001:db8::53")}, Interval: time.Minute}).Marshal()
			r, why := ParseRA(out)
			if why != "" {
				t.Fatalf("relayed RA does not parse: %s", why)
			}
			if r.Flags&FlagProxy == 0 || len(out)+40 > l.MTU {
				t.Fatalf("relayed RA without P or too large: %d bytes", len(out))
			}
		}
	})
}
