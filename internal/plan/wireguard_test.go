package plan

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/ndproxy/ndproxy/internal/config"
	"github.com/ndproxy/ndproxy/internal/world"
)

// The S3 VPS: eth0 has the provider's /64 by SLAAC, wg0 lends addresses of
// it to peers.
var (
	vpsEth0 = world.Link{Index: 2, Name: "eth0", Up: true, HardwareAddr: net.HardwareAddr{2, 0, 0, 0, 0, 2}}
	vpsWG0  = world.Link{Index: 7, Name: "wg0", Up: true, NoARP: true}
	vpsLAN  = world.Link{Index: 8, Name: "lan0", Up: true, HardwareAddr: net.HardwareAddr{2, 0, 0, 0, 0, 8}}
	vps64   = netip.MustParsePrefix("2001:db8:5::/64")
	vpsSelf = netip.MustParseAddr("2001:db8:5::1")
	ws      = netip.MustParseAddr("2001:db8:5::2")
	vpsWG   = config.Proxy{
		Name: "vps", Upstream: "eth0", Downstream: []string{"wg0"}, PrefixFrom: []string{"eth0"},
		Verify: config.VerifyProbe, Route: config.RouteHost, RouteMetric: 1024,
		ValidTTL: 30 * time.Second, ProbeTimeout: time.Second, ProbeRetries: 3,
	}
	at = time.Unix(1_700_000_000, 0)
)

func key(b byte) (k [32]byte) {
	k[0] = b
	return k
}

func pfx(s ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, x := range s {
		out = append(out, netip.MustParsePrefix(x))
	}
	return out
}

func vpsWorld(peers ...world.Peer) *world.World {
	return &world.World{
		Links: []world.Link{vpsEth0, vpsWG0, vpsLAN},
		Addrs: []world.Addr{
			{LinkIndex: 2, Prefix: netip.MustParsePrefix("fe80::2/64")},
			{LinkIndex: 2, Prefix: netip.PrefixFrom(vpsSelf, 64)},
		},
		Sysctls: map[string]string{"net/ipv6/conf/eth0/accept_ra": "2"},
		WireGuard: []world.WireGuard{{
			Name: "wg0", LinkIndex: 7, Read: at, PublicKey: key(1),
			LinkLocal: netip.MustParseAddr("fe80::1:1"), Peers: peers,
		}},
	}
}

func TestComputeWireGuardTargets(t *testing.T) {
	fresh := at.Add(-10 * time.Second)
	old := at.Add(-10 * time.Minute)
	tests := []struct {
		name    string
		proxy   func(*config.Proxy)
		timeout time.Duration
		peers   []world.Peer
		edit    func(*world.World)
		owned   []string
		routes  []string
	}{
		{
			name:   "one address lent",
			peers:  []world.Peer{{PublicKey: key(9), AllowedIPs: pfx("2001:db8:5::2/128")}},
			owned:  []string{"2001:db8:5::2/128"},
			routes: []string{"2001:db8:5::2/128"},
		},
		{
			name: "only what is inside the prefixes, longer than /64, not ours",
			peers: []world.Peer{{PublicKey: key(9), AllowedIPs: pfx(
				"::/0", "2001:db8:5::/64", // may send from there: not owned
				"2001:db8:5::1/128",   // the VPS's own address
				"2001:db8:6::2/128",   // another /64
				"2001:db8:5:0:1::/80", // a sub-prefix: owned as a whole
				"fe80::abcd/128",      // link-local
				"2001:db8:5::2/128",
			)}},
			owned:  []string{"2001:db8:5::2/128", "2001:db8:5:0:1::/80"},
			routes: []string{"2001:db8:5::2/128", "2001:db8:5:0:1::/80"},
		},
		{
			name:   "no peers, nothing owned",
			owned:  nil,
			routes: nil,
		},
		{
			name: "two peers",
			peers: []world.Peer{
				{PublicKey: key(9), AllowedIPs: pfx("2001:db8:5::2/128")},
				{PublicKey: key(8), AllowedIPs: pfx("2001:db8:5::3/128")},
			},
			owned:  []string{"2001:db8:5::2/128", "2001:db8:5::3/128"},
			routes: []string{"2001:db8:5::2/128", "2001:db8:5::3/128"},
		},
		{
			name:  "a route someone else made is not duplicated",
			peers: []world.Peer{{PublicKey: key(9), AllowedIPs: pfx("2001:db8:5::2/128", "2001:db8:5::3/128")}},
			edit: func(w *world.World) {
				w.WireGuard[0].Routes = pfx("2001:db8:5::2/128", "2001:db8:5::/64")
			},
			owned:  []string{"2001:db8:5::2/128", "2001:db8:5::3/128"},
			routes: []string{"2001:db8:5::3/128"},
		},
		{
			name:    "stale peers with keepalive are gone, others stay",
			timeout: 3 * time.Minute,
			peers: []world.Peer{
				{PublicKey: key(9), AllowedIPs: pfx("2001:db8:5::2/128"), Keepalive: 25 * time.Second, LastHandshake: old},
				{PublicKey: key(8), AllowedIPs: pfx("2001:db8:5::3/128"), Keepalive: 25 * time.Second, LastHandshake: fresh},
				{PublicKey: key(7), AllowedIPs: pfx("2001:db8:5::4/128"), Keepalive: 25 * time.Second}, // never
				{PublicKey: key(6), AllowedIPs: pfx("2001:db8:5::5/128"), LastHandshake: old},          // no keepalive
			},
			owned:  []string{"2001:db8:5::3/128", "2001:db8:5::5/128"},
			routes: []string{"2001:db8:5::3/128", "2001:db8:5::5/128"},
		},
		{
			name:  "without handshake_timeout a stale peer stays",
			peers: []world.Peer{{PublicKey: key(9), AllowedIPs: pfx("2001:db8:5::2/128"), Keepalive: 25 * time.Second, LastHandshake: old}},
			owned: []string{"2001:db8:5::2/128"}, routes: []string{"2001:db8:5::2/128"},
		},
		{
			name:   "route none: answered, not routed",
			proxy:  func(p *config.Proxy) { p.Route = config.RouteNone },
			peers:  []world.Peer{{PublicKey: key(9), AllowedIPs: pfx("2001:db8:5::2/128")}},
			owned:  []string{"2001:db8:5::2/128"},
			routes: nil,
		},
		{
			name:   "a configured sub-prefix limits what is owned",
			proxy:  func(p *config.Proxy) { p.PrefixFrom, p.Prefixes = nil, pfx("2001:db8:5::/120") },
			peers:  []world.Peer{{PublicKey: key(9), AllowedIPs: pfx("2001:db8:5::2/128", "2001:db8:5::1:2/128")}},
			owned:  []string{"2001:db8:5::2/128"},
			routes: []string{"2001:db8:5::2/128"},
		},
		{
			name:  "a WireGuard device the watcher does not report is an ordinary link",
			peers: []world.Peer{{PublicKey: key(9), AllowedIPs: pfx("2001:db8:5::2/128")}},
			edit:  func(w *world.World) { w.WireGuard = nil },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := vpsWG
			if tt.proxy != nil {
				tt.proxy(&p)
			}
			cfg := &config.Config{Proxies: []config.Proxy{p}}
			if tt.timeout > 0 {
				cfg.WireGuard = []config.WireGuard{{Name: "wg", Device: "wg0", HandshakeTimeout: tt.timeout}}
			}
			w := vpsWorld(tt.peers...)
			if tt.edit != nil {
				tt.edit(w)
			}
			got := Compute(cfg, w, nil)
			if len(got.Engines) != 1 {
				t.Fatalf("engines %+v, waiting %v", got.Engines, got.Waiting)
			}
			e := got.Engines[0]
			var owned, routes []string
			for _, o := range e.Owned {
				if o.LinkIndex != 7 {
					t.Errorf("owned %v on link %d, want wg0 (7)", o.Prefix, o.LinkIndex)
				}
				owned = append(owned, o.Prefix.String())
			}
			for _, r := range got.Routes {
				if r.LinkIndex != 7 || r.Metric != 1024 {
					t.Errorf("route %+v, want dev wg0 (7) metric 1024", r)
				}
				routes = append(routes, r.Dst.String())
			}
			if diff := cmp.Diff(tt.owned, owned); diff != "" {
				t.Errorf("owned (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.routes, routes); diff != "" {
				t.Errorf("routes (-want +got):\n%s", diff)
			}
			if len(w.WireGuard) > 0 && (len(e.Downstreams) != 0 || len(e.WireGuard) != 1) {
				t.Errorf("downstreams %v, wireguard %v: wg0 must never be probed", e.Downstreams, e.WireGuard)
			}
		})
	}
}

// A WireGuard downstream never is probed, and never yields hints: its
// neighbour entries are NOARP entries the kernel makes for any address.
func TestComputeWireGuardNeverProbed(t *testing.T) {
	p := vpsWG
	p.Downstream = []string{"lan0", "wg0"}
	w := vpsWorld(world.Peer{PublicKey: key(9), AllowedIPs: pfx("2001:db8:5::2/128")})
	w.Neighbors = []world.Neighbor{
		{LinkIndex: 7, Addr: netip.MustParseAddr("2001:db8:5::99"), Usable: true},
		{LinkIndex: 8, Addr: netip.MustParseAddr("2001:db8:5::41"), Usable: true},
	}
	got := Compute(&config.Config{Proxies: []config.Proxy{p}}, w, nil)
	e := got.Engines[0]
	if len(e.Downstreams) != 1 || e.Downstreams[0].Name != "lan0" {
		t.Errorf("probed downstreams %v, want lan0 only", e.Downstreams)
	}
	if len(e.Hints) != 1 || e.Hints[0].LinkIndex != 8 {
		t.Errorf("hints %v, want the lan0 one only", e.Hints)
	}
	// With wg0 the only downstream, the section runs, it does not wait.
	w.Links = []world.Link{vpsEth0, vpsWG0}
	p.Downstream = []string{"wg0"}
	got = Compute(&config.Config{Proxies: []config.Proxy{p}}, w, nil)
	if len(got.Engines) != 1 {
		t.Errorf("a WireGuard-only section waits: %v", got.Waiting)
	}
}

func TestComputeWireGuardLinkLocal(t *testing.T) {
	w := vpsWorld(
		world.Peer{PublicKey: key(9), LinkLocal: netip.MustParseAddr("fe80::9")},
		world.Peer{PublicKey: key(8), LinkLocal: netip.MustParseAddr("fe80::9")},
		world.Peer{PublicKey: key(7), LinkLocal: netip.MustParseAddr("fe80::1:1")}, // the device's own
	)
	cfg := &config.Config{WireGuard: []config.WireGuard{{Name: "wg", Device: "wg0", LinkLocal: true}}}
	got := Compute(cfg, w, nil)
	want := []world.Addr{{LinkIndex: 7, Prefix: netip.MustParsePrefix("fe80::1:1/64")}}
	if diff := cmp.Diff(want, got.LinkLocals, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("link-locals (-want +got):\n%s", diff)
	}
	if len(got.Warnings) != 2 || !strings.Contains(got.Warnings[0], "fe80::9") || !strings.Contains(got.Warnings[1], "the device itself") {
		t.Errorf("warnings %q, want the two collisions", got.Warnings)
	}

	cfg.WireGuard[0].LinkLocal = false
	if got := Compute(cfg, w, nil); len(got.LinkLocals) != 0 {
		t.Errorf("link_local 0 still wants %v", got.LinkLocals)
	}
	// A proto dhcpv6 stacked on the device, named instead of it, waits
	// for the link-local to come up: the address goes on before it is up.
	cfg.WireGuard[0].LinkLocal, cfg.WireGuard[0].Device = true, "wg0dhcp"
	w.Logical = []world.Logical{{Name: "wg0dhcp", Main: "wg0"}}
	if diff := cmp.Diff(want, Compute(cfg, w, nil).LinkLocals, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("link-locals for a pending stacked interface (-want +got):\n%s", diff)
	}
	w.WireGuard[0].PublicKey, w.WireGuard[0].LinkLocal = [32]byte{}, netip.Addr{}
	if got := Compute(cfg, w, nil); len(got.LinkLocals) != 0 {
		t.Errorf("a device without a key wants %v", got.LinkLocals)
	}
}

func TestWireGuardWants(t *testing.T) {
	p := vpsWG
	p.Downstream = []string{"lan0", "wg0", "gone0"}
	cfg := &config.Config{
		Proxies: []config.Proxy{p},
		WireGuard: []config.WireGuard{
			{Name: "a", Device: "wg0", HandshakeTimeout: time.Minute},
			{Name: "b", Device: "vpn"}, // a logical interface
		},
	}
	w := vpsWorld()
	w.Links = append(w.Links, world.Link{Index: 9, Name: "wg1", Up: true})
	w.Logical = []world.Logical{{Name: "vpn", Up: true, Device: "wg1"}}
	got := WireGuardWants(cfg, w)
	want := []WireGuardWant{{Name: "lan0", Index: 8, Up: true}, {Name: "wg0", Index: 7, Up: true, HandshakeTimeout: time.Minute}, {Name: "wg1", Index: 9, Up: true}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("wants (-want +got):\n%s", diff)
	}
}
