package proxy

import (
	"net"
	"net/netip"
	"slices"
	"testing"

	"github.com/ndproxy/ndproxy/internal/plan"
	"github.com/ndproxy/ndproxy/internal/world"
	"github.com/ndproxy/ndproxy/test/netns"
)

// TestRoutedPrefixes asks a real kernel which prefixes are routed, as a
// whole, to a downstream link: only those may be answered for before the
// target's host route is in.
func TestRoutedPrefixes(t *testing.T) {
	lab := netns.New(t)
	up, gw, dn := lab.Host("up"), lab.Router("gw"), lab.Host("dn")
	lab.Link(up, "eth0", gw, "wlan0")
	lab.Link(gw, "eth0", dn, "eth0")
	gw.AddAddr("wlan0", netip.MustParsePrefix("2001:db8:be:1::2/64"), "nodad")
	gw.AddAddr("eth0", netip.MustParsePrefix("fd00:be::1/64"), "nodad")
	island := netip.MustParsePrefix("2001:db8:be:1:40::/76")

	var got [][]routedPrefix
	var steps []string
	step := func(name string, ipArgs ...string) {
		if len(ipArgs) > 0 {
			gw.MustIP(ipArgs...)
		}
		steps = append(steps, name)
		if err := netns.InNamespace(gw.NS, func() error {
			wlan, err1 := net.InterfaceByName("wlan0")
			eth, err2 := net.InterfaceByName("eth0")
			if err1 != nil || err2 != nil {
				got = append(got, nil)
				return nil
			}
			spec := plan.Engine{
				Prefixes:    []netip.Prefix{island},
				Upstream:    world.Link{Index: wlan.Index, Name: "wlan0"},
				Downstreams: []world.Link{{Index: eth.Index, Name: "eth0"}},
			}
			got = append(got, routedPrefixes(spec))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	step("only the upstream's on-link /64")
	step("the island's /76 routed to eth0", "-6", "route", "add", island.String(), "dev", "eth0")
	step("the /76 through a gateway on eth0", "-6", "route", "replace", island.String(), "via", "fd00:be::2", "dev", "eth0")
	step("a /72 around it to eth0", "-6", "route", "replace", "2001:db8:be:1::/72", "dev", "eth0")
	step("the /76 gone, the /72 around it to eth0", "-6", "route", "del", island.String())
	gw.MustIP("-6", "route", "replace", "2001:db8:be:1::/72", "dev", "wlan0")
	step("only a /80 inside it to eth0: not all of it", "-6", "route", "add", "2001:db8:be:1:40::/80", "dev", "eth0")

	eth := func() int {
		var idx int
		if err := netns.InNamespace(gw.NS, func() error {
			l, err := net.InterfaceByName("eth0")
			if err == nil {
				idx = l.Index
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return idx
	}()
	want := [][]routedPrefix{
		nil,
		{{island, eth}},
		nil,
		nil, // the /76 via the gateway is longer than the /72 and wins
		{{island, eth}},
		nil,
	}
	for i := range steps {
		if !slices.Equal(got[i], want[i]) {
			t.Errorf("%s: routed = %v, want %v", steps[i], got[i], want[i])
		}
	}
}
