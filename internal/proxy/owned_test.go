package proxy

import (
	"net/netip"
	"testing"

	"github.com/ndproxy/ndproxy/internal/plan"
	"github.com/ndproxy/ndproxy/internal/world"
)

func TestAnswerSetOwned(t *testing.T) {
	a := &answerSet{
		owned: newOwnedSet([]plan.Owned{
			{Prefix: netip.MustParsePrefix("2001:db8:5::2/128"), LinkIndex: 7},
			{Prefix: netip.MustParsePrefix("2001:db8:5:0:1::/80"), LinkIndex: 7},
		}),
		local:    map[netip.Addr]bool{netip.MustParseAddr("2001:db8:5:0:1::1"): true},
		prefixes: []netip.Prefix{netip.MustParsePrefix("2001:db8:5::/64")},
	}
	for addr, want := range map[string]bool{
		"2001:db8:5::2":      true,
		"2001:db8:5:0:1::77": true,
		"2001:db8:5:0:1::1":  false, // this host's own: the kernel answers
		"2001:db8:5::3":      false, // in the /64, but no peer owns it
		"2001:db8:5:0:2::2":  false,
		"2001:db8:6::2":      false,
	} {
		if got := a.answers(netip.MustParseAddr(addr)); got != want {
			t.Errorf("answers(%s) = %v, want %v", addr, got, want)
		}
	}
}

func TestIsWireGuard(t *testing.T) {
	spec := &plan.Engine{WireGuard: []world.Link{{Index: 7, Name: "wg0"}}}
	if !isWireGuard(spec, 7) || isWireGuard(spec, 3) {
		t.Error("isWireGuard does not tell wg0 (7) from link 3")
	}
}
