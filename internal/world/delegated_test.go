package world

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestAddDelegated(t *testing.T) {
	p := netip.MustParsePrefix
	w := &World{
		Links: []Link{{Index: 2, Name: "wan0", Up: true}, {Index: 3, Name: "lan0"}},
		Addrs: []Addr{
			{LinkIndex: 2, Prefix: p("fe80::1/64")},
			{LinkIndex: 2, Prefix: p("2001:db8:1::5/64")},
			{LinkIndex: 3, Prefix: p("2001:db8:77:601::1/64")},
		},
		// netifd's name wins over a device of the same name.
		Logical: []Logical{{Name: "lan0", Up: true, Device: "br-lan"}},
	}
	w.AddDelegated(map[string][]netip.Prefix{
		"wan0": {p("2001:db8:77:600::/64")},
		"lan0": {p("2001:db8:99::/64")},
		"gone": {p("2001:db8:88::/64")},
		"none": nil,
	})
	want := []Logical{
		{Name: "lan0", Up: true, Device: "br-lan"},
		// A device networkd knows and this snapshot does not: down.
		{Name: "gone", Delegated: []netip.Prefix{p("2001:db8:88::/64")}},
		{Name: "wan0", Up: true, Device: "wan0",
			Addrs:     []netip.Prefix{p("fe80::1/64"), p("2001:db8:1::5/64")},
			Delegated: []netip.Prefix{p("2001:db8:77:600::/64")}},
	}
	if diff := cmp.Diff(want, w.Logical, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("Logical (-want +got):\n%s", diff)
	}
}
