package plan

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/ndproxy/ndproxy/internal/config"
	"github.com/ndproxy/ndproxy/internal/world"
)

var (
	island = config.Proxy{
		Name: "island", Upstream: "wlan0", Downstream: []string{"eth0"},
		Prefixes: []netip.Prefix{netip.MustParsePrefix("2001:db8:abc:123:40::/76")},
		Verify:   config.VerifyProbe, Route: config.RouteHost, RouteMetric: 64,
		ValidTTL: 30 * time.Second, ProbeTimeout: 500 * time.Millisecond, ProbeRetries: 3,
	}
	wlan0 = world.Link{Index: 2, Name: "wlan0", Up: true, HardwareAddr: net.HardwareAddr{2, 0, 0, 0, 0, 2}}
	eth0  = world.Link{Index: 3, Name: "eth0", Up: true, HardwareAddr: net.HardwareAddr{2, 0, 0, 0, 0, 3}}
	ll    = netip.MustParseAddr("fe80::2")
	pi41  = netip.MustParseAddr("2001:db8:abc:123:41::1")
)

func islandWorld() *world.World {
	return &world.World{
		Links: []world.Link{wlan0, eth0},
		Addrs: []world.Addr{
			{LinkIndex: 2, Prefix: netip.PrefixFrom(ll, 64)},
			{LinkIndex: 2, Prefix: netip.MustParsePrefix("2001:db8:abc:123::77/64")},
			{LinkIndex: 3, Prefix: netip.MustParsePrefix("2001:db8:abc:123:40::1/76")},
		},
		Neighbors: []world.Neighbor{
			{LinkIndex: 3, Addr: pi41, Usable: true},
			{LinkIndex: 3, Addr: netip.MustParseAddr("fd2f::41"), Usable: true},               // outside the prefixes
			{LinkIndex: 2, Addr: netip.MustParseAddr("2001:db8:abc:123:42::1"), Usable: true}, // not downstream
			{LinkIndex: 3, Addr: netip.MustParseAddr("2001:db8:abc:123:43::1")},               // failed
		},
		Sysctls: map[string]string{
			"net/ipv6/conf/wlan0/accept_ra": "1",
			"net/ipv6/conf/all/forwarding":  "0",
		},
	}
}

func TestComputeIsland(t *testing.T) {
	cfg := &config.Config{Proxies: []config.Proxy{island}}
	got := Compute(cfg, islandWorld(), []Target{
		{Proxy: "island", Addr: pi41, LinkIndex: 3},
		{Proxy: "island", Addr: netip.MustParseAddr("2001:db8:abc:123:42::1"), LinkIndex: 9}, // link gone
		{Proxy: "other", Addr: netip.MustParseAddr("2001:db8:abc:123:44::1"), LinkIndex: 3},
	})
	want := &Desired{
		Sysctls: []Sysctl{{"net/ipv6/conf/wlan0/accept_ra", "2"}, {"net/ipv6/conf/all/forwarding", "1"}},
		Routes:  []world.Route{{Dst: netip.PrefixFrom(pi41, 128), LinkIndex: 3, Metric: 64}},
		Engines: []Engine{{
			Proxy: island, Upstream: wlan0, Source: ll, Downstreams: []world.Link{eth0},
			Prefixes: island.Prefixes, From: map[netip.Prefix]string{island.Prefixes[0]: "config"},
			Local: []netip.Addr{netip.MustParseAddr("2001:db8:abc:123:40::1")},
			Hints: []Hint{{Addr: pi41, LinkIndex: 3}},
		}},
		Waiting: map[string]string{},
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b }), cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Fatalf("Compute (-want +got):\n%s", diff)
	}
}

func TestComputeAcceptRA(t *testing.T) {
	cfg := &config.Config{Proxies: []config.Proxy{island}}
	for ra, wantSet := range map[string]bool{"0": false, "1": true, "2": false} {
		w := islandWorld()
		w.Sysctls["net/ipv6/conf/wlan0/accept_ra"] = ra
		got := Compute(cfg, w, nil)
		set := len(got.Sysctls) == 2 && got.Sysctls[0] == Sysctl{"net/ipv6/conf/wlan0/accept_ra", "2"}
		if set != wantSet {
			t.Errorf("accept_ra=%s: sysctls %v, want accept_ra=2 set: %v", ra, got.Sysctls, wantSet)
		}
		if last := got.Sysctls[len(got.Sysctls)-1]; last != (Sysctl{"net/ipv6/conf/all/forwarding", "1"}) {
			t.Errorf("accept_ra=%s: forwarding must come last, got %v", ra, got.Sysctls)
		}
	}
}

func TestComputeWaits(t *testing.T) {
	cfg := &config.Config{Proxies: []config.Proxy{island}}
	tests := []struct {
		name string
		edit func(*world.World)
		why  string
	}{
		{"upstream missing", func(w *world.World) { w.Links = w.Links[1:] }, "upstream wlan0 does not exist"},
		{"upstream down", func(w *world.World) { w.Links[0].Up = false }, "upstream wlan0 is down"},
		{"no link-local yet", func(w *world.World) { w.Addrs[0].Tentative = true }, "upstream wlan0 has no usable link-local address yet"},
		{"downstream down", func(w *world.World) { w.Links[1].Up = false }, "no downstream of [eth0] exists and is up"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := islandWorld()
			tt.edit(w)
			got := Compute(cfg, w, []Target{{Proxy: "island", Addr: pi41, LinkIndex: 3}})
			if got.Waiting["island"] != tt.why || len(got.Engines) != 0 {
				t.Fatalf("waiting = %q, engines %d; want %q and none", got.Waiting["island"], len(got.Engines), tt.why)
			}
			if len(got.Routes) != 0 {
				t.Fatalf("a waiting proxy keeps no routes, got %v", got.Routes)
			}
		})
	}
}

func TestComputePrefixRoute(t *testing.T) {
	s2 := island
	s2.Name, s2.Upstream, s2.Downstream = "guests", "eth0", []string{"wlan0"}
	s2.Prefixes = []netip.Prefix{netip.MustParsePrefix("2001:db8:3:2:1::/64")}
	s2.Verify, s2.Route = config.VerifyAuto, config.RoutePrefix
	got := Compute(&config.Config{Proxies: []config.Proxy{s2}}, &world.World{
		Links: []world.Link{wlan0, eth0},
		Addrs: []world.Addr{{LinkIndex: 3, Prefix: netip.MustParsePrefix("fe80::3/64")}},
	}, nil)
	want := []world.Route{{Dst: netip.MustParsePrefix("2001:db8:3:2:1::/64"), LinkIndex: 2, Metric: 64}}
	if diff := cmp.Diff(want, got.Routes, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Fatalf("routes (-want +got):\n%s", diff)
	}
}

func TestRouteDiff(t *testing.T) {
	r := func(s string, link int) world.Route {
		return world.Route{Dst: netip.MustParsePrefix(s), LinkIndex: link, Metric: 64}
	}
	have := []world.Route{r("2001:db8::1/128", 3), r("2001:db8::2/128", 3), r("2001:db8::3/128", 3)}
	want := []world.Route{r("2001:db8::2/128", 3), r("2001:db8::3/128", 4), r("2001:db8::4/128", 3)}
	add, del := RouteDiff(have, want)
	opt := cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })
	if diff := cmp.Diff([]world.Route{r("2001:db8::3/128", 4), r("2001:db8::4/128", 3)}, add, opt); diff != "" {
		t.Errorf("add (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]world.Route{r("2001:db8::1/128", 3), r("2001:db8::3/128", 3)}, del, opt); diff != "" {
		t.Errorf("del (-want +got):\n%s", diff)
	}
}

func TestComputeOpenWrtNames(t *testing.T) {
	// On OpenWrt the config names logical interfaces: wan6 sits on eth1 (here
	// the link called wlan0), lan on br-lan (here eth0), and wan6's on-link
	// prefix is proxied as netifd reports it.
	p := island
	p.Upstream, p.Downstream = "wan6", []string{"lan"}
	p.Prefixes, p.PrefixFrom = nil, []string{"wan6"}
	cfg := &config.Config{Proxies: []config.Proxy{p}}
	w := islandWorld()
	w.Logical = []world.Logical{
		{Name: "wan6", Up: true, Device: "wlan0",
			Addrs: []netip.Prefix{
				netip.MustParsePrefix("2001:db8:abc:123::77/64"),
				netip.MustParsePrefix("2001:db8:ffff:10::2b1/128"), // DHCPv6 IA_NA: not on-link
			},
			Delegated: []netip.Prefix{
				netip.MustParsePrefix("2001:db8:1200::/56"), // too short to be on a link
				netip.MustParsePrefix("2001:db8:4400:1::/64"),
			}},
		{Name: "lan", Up: true, Device: "eth0"},
	}
	got := Compute(cfg, w, nil)
	if len(got.Engines) != 1 {
		t.Fatalf("engines %d, waiting %v", len(got.Engines), got.Waiting)
	}
	e := got.Engines[0]
	if e.Upstream.Name != "wlan0" || len(e.Downstreams) != 1 || e.Downstreams[0].Name != "eth0" {
		t.Fatalf("upstream %s, downstreams %v: logical names not mapped to devices", e.Upstream.Name, e.Downstreams)
	}
	wantFrom := map[netip.Prefix]string{
		netip.MustParsePrefix("2001:db8:abc:123::/64"): "wan6 on-link",
		netip.MustParsePrefix("2001:db8:4400:1::/64"):  "wan6 delegated",
	}
	if diff := cmp.Diff(wantFrom, e.From, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Fatalf("prefixes (-want +got):\n%s", diff)
	}

	// Renumbering: netifd reports a new prefix; the plan follows.
	w.Logical[0].Addrs = []netip.Prefix{netip.MustParsePrefix("2001:db8:beef::77/64")}
	w.Logical[0].Delegated = nil
	got = Compute(cfg, w, nil)
	if len(got.Engines) != 1 || len(got.Engines[0].Prefixes) != 1 || got.Engines[0].Prefixes[0] != netip.MustParsePrefix("2001:db8:beef::/64") {
		t.Fatalf("after renumbering: %+v, waiting %v", got.Engines, got.Waiting)
	}

	// wan6 goes down: the proxy waits.
	w.Logical[0].Up = false
	got = Compute(cfg, w, nil)
	if got.Waiting[p.Name] != "upstream interface wan6 is down" {
		t.Fatalf("waiting = %q", got.Waiting[p.Name])
	}
}

func TestComputePrefixFromDevice(t *testing.T) {
	// Without netifd, prefix_from names a device: wlan0's SLAAC /64.
	p := island
	p.Prefixes, p.PrefixFrom = nil, []string{"wlan0"}
	got := Compute(&config.Config{Proxies: []config.Proxy{p}}, islandWorld(), nil)
	if len(got.Engines) != 1 || got.Engines[0].From[netip.MustParsePrefix("2001:db8:abc:123::/64")] != "wlan0 on-link" {
		t.Fatalf("engines %+v waiting %v", got.Engines, got.Waiting)
	}
	w := islandWorld()
	w.Addrs = w.Addrs[:1] // only the link-local
	got = Compute(&config.Config{Proxies: []config.Proxy{p}}, w, nil)
	if got.Waiting[p.Name] != "no prefix yet from [wlan0]" {
		t.Fatalf("waiting = %q", got.Waiting[p.Name])
	}
}

func TestComputeNoARPLinks(t *testing.T) {
	w := islandWorld()
	w.Links = append(w.Links, world.Link{Index: 7, Name: "wg0", Up: true, NoARP: true})
	got := Compute(&config.Config{Proxies: []config.Proxy{island}}, w, nil)
	if len(got.Engines) != 1 || !got.Engines[0].NoARP[7] || got.Engines[0].NoARP[3] {
		t.Fatalf("NoARP = %v, want only wg0 (7)", got.Engines[0].NoARP)
	}
}
