package daemon

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/ndproxy/ndproxy/internal/config"
	"github.com/ndproxy/ndproxy/internal/ra"
	"github.com/ndproxy/ndproxy/internal/world"
)

func TestAdvertConfig(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := netip.MustParsePrefix
	peerLL := netip.MustParseAddr("fe80::2")
	w := &world.World{
		Links: []world.Link{
			{Index: 911, Name: "eth0", Up: true},
			{Index: 912, Name: "wg0", Up: true, NoARP: true},
		},
		Logical: []world.Logical{{Name: "vpn6", Up: true, Device: "wg0"}},
		Addrs: []world.Addr{
			{LinkIndex: 911, Prefix: p("2001:db8:9::5/64"), Valid: world.Forever, Preferred: world.Forever},
			{LinkIndex: 912, Prefix: p("fe80::1/64"), Valid: world.Forever, Preferred: world.Forever},
			// netifd's ip6assign address, with the delegated prefix's lifetimes.
			{LinkIndex: 912, Prefix: p("2001:db8:7:1::1/64"), Valid: 7200, Preferred: 3600},
			{LinkIndex: 912, Prefix: p("2001:db8:7:1::2/64"), Valid: 7200, Preferred: 3600}, // same prefix once
			{LinkIndex: 912, Prefix: p("fd00:7:1::1/64"), Valid: world.Forever, Preferred: world.Forever},
			{LinkIndex: 912, Prefix: p("2001:db8:7:9::1/128"), Valid: world.Forever, Preferred: world.Forever},
			{LinkIndex: 912, Prefix: p("2001:db8:7:2::1/64"), Tentative: true},
		},
		WireGuard: []world.WireGuard{{Name: "wg0", LinkIndex: 912, Peers: []world.Peer{
			{LinkLocal: peerLL, AllowedIPs: []netip.Prefix{p("::/0")}},
		}}},
	}
	s := config.WireGuard{Name: "site", Device: "vpn6", RAAdvertise: true, RADNS: []netip.Addr{netip.MustParseAddr("2001:db8:7::53")}}

	w.DefaultLinks = []int{911}
	got := advertConfig(s, w, now)
	want := ra.Config{
		Links:    []ra.Link{{Index: 912, Name: "wg0", Source: netip.MustParseAddr("fe80::1"), Unicast: []netip.Addr{peerLL}}},
		Settings: ra.Settings{DNS: s.RADNS, Interval: advertInterval},
		Advert: &ra.Advert{DefaultRouter: true, Prefixes: []ra.AdvPrefix{
			{Prefix: p("2001:db8:7:1::/64"), ValidUntil: now.Add(2 * time.Hour), PreferredUntil: now.Add(time.Hour)},
			{Prefix: p("fd00:7:1::/64")},
		}},
	}
	cmpAddr := cmp.Comparer(func(a, b netip.Addr) bool { return a == b })
	cmpPrefix := cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })
	if diff := cmp.Diff(want, got, cmpAddr, cmpPrefix); diff != "" {
		t.Errorf("advertConfig (-want +got):\n%s", diff)
	}

	// The only default route goes into the tunnel itself: hosts behind it
	// must not route everything back to us.
	w.DefaultLinks = []int{912}
	if got := advertConfig(s, w, now); got.Advert.DefaultRouter {
		t.Error("default router while the only default route is into the device")
	}
	w.DefaultLinks = nil
	if got := advertConfig(s, w, now); got.Advert.DefaultRouter {
		t.Error("default router without a default route")
	}

	// The logical interface is down: no link, nothing announced.
	w.Logical[0].Up = false
	w.DefaultLinks = []int{911}
	if got := advertConfig(s, w, now); len(got.Links) != 0 || got.Advert != nil {
		t.Errorf("interface down: %+v", got)
	}
}
