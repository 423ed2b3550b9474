package world_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/ndproxy/ndproxy/internal/config"
	"github.com/ndproxy/ndproxy/internal/plan"
	"github.com/ndproxy/ndproxy/internal/world"
)

// TestPlanTakesDelegated: the planner treats a device with delegated
// prefixes (AddDelegated) as it treats a netifd interface: prefix_from
// takes its on-link prefixes and its delegated prefixes of /64 or longer,
// and says where each came from.
func TestPlanTakesDelegated(t *testing.T) {
	p := netip.MustParsePrefix
	w := &world.World{
		Links: []world.Link{{Index: 2, Name: "wan0", Up: true}, {Index: 3, Name: "eth0", Up: true}},
		Addrs: []world.Addr{
			{LinkIndex: 2, Prefix: p("fe80::2/64")},
			{LinkIndex: 2, Prefix: p("2001:db8:1::5/64")},
		},
	}
	proxy := config.Proxy{
		Name: "pd", Upstream: "wan0", Downstream: []string{"eth0"}, PrefixFrom: []string{"wan0"},
		Verify: config.VerifyProbe, Route: config.RouteHost, RouteMetric: 64,
		ValidTTL: 30 * time.Second, ProbeTimeout: 500 * time.Millisecond, ProbeRetries: 3,
	}
	cfg := &config.Config{Proxies: []config.Proxy{proxy}}

	from := func(w *world.World) map[netip.Prefix]string {
		d := plan.Compute(cfg, w, nil)
		if len(d.Engines) != 1 {
			t.Fatalf("no engine: %v", d.Waiting)
		}
		return d.Engines[0].From
	}
	without := from(w)
	w.AddDelegated(map[string][]netip.Prefix{"wan0": {p("2001:db8:77:600::/64"), p("2001:db8:77:500::/56")}})
	with := from(w)
	if diff := cmp.Diff(map[netip.Prefix]string{p("2001:db8:1::/64"): "wan0 on-link"}, without); diff != "" {
		t.Errorf("without delegated prefixes (-want +got):\n%s", diff)
	}
	want := map[netip.Prefix]string{p("2001:db8:1::/64"): "wan0 on-link", p("2001:db8:77:600::/64"): "wan0 delegated"}
	if diff := cmp.Diff(want, with); diff != "" {
		t.Errorf("with delegated prefixes (-want +got):\n%s", diff)
	}
}
