package daemon

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/ndproxy/ndproxy/internal/config"
	"github.com/ndproxy/ndproxy/internal/ra"
	"github.com/ndproxy/ndproxy/internal/world"
)

func TestRelayConfig(t *testing.T) {
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 3}
	ll := func(s string) world.Addr { return world.Addr{Prefix: netip.MustParsePrefix(s + "/64")} }
	peerLL := netip.MustParseAddr("fe80::2")
	w := &world.World{
		Links: []world.Link{
			{Index: 902, Name: "wlan0", Up: true},
			{Index: 903, Name: "eth0", Up: true, HardwareAddr: mac},
			{Index: 904, Name: "eth1", Up: true},
			{Index: 905, Name: "wg0", Up: true, NoARP: true},
			{Index: 906, Name: "eth2"},
		},
		WireGuard: []world.WireGuard{{Name: "wg0", LinkIndex: 905, Peers: []world.Peer{
			{LinkLocal: peerLL, AllowedIPs: []netip.Prefix{netip.MustParsePrefix("fe80::/64"), netip.MustParsePrefix("2001:db8::/64")}},
			{AllowedIPs: []netip.Prefix{netip.MustParsePrefix("fe80::3/128")}},
		}}},
	}
	for i, a := range []world.Addr{ll("fe80::a"), ll("fe80::b"), ll("fe80::c"), ll("fe80::d"), ll("fe80::e")} {
		a.LinkIndex = 902 + i
		a.Tentative = a.LinkIndex == 904 // still in DAD: cannot send from it
		w.Addrs = append(w.Addrs, a)
	}
	p := config.Proxy{Name: "island", Upstream: "wlan0", Downstream: []string{"eth0", "eth1", "wg0", "eth2", "gone0"},
		RARelay: true, RAInterval: time.Minute, RAHoldDown: time.Hour}

	got := relayConfig(p, w)
	want := ra.Config{
		Upstream: 902,
		Links: []ra.Link{
			{Index: 903, Name: "eth0", MAC: mac, Source: netip.MustParseAddr("fe80::b")},
			{Index: 905, Name: "wg0", Source: netip.MustParseAddr("fe80::d"),
				Unicast: []netip.Addr{peerLL, netip.MustParseAddr("fe80::3")}},
		},
		Settings: ra.Settings{Interval: time.Minute, HoldDown: time.Hour},
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("relayConfig (-want +got):\n%s", diff)
	}

	w.Links[0].Up = false
	if got := relayConfig(p, w); got.Upstream != 0 {
		t.Errorf("upstream down: Upstream = %d, want 0", got.Upstream)
	}
}
