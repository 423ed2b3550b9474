package test

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ndproxy/ndproxy/test/netns"
)

// S2 — a /64 on a rented server, guests behind a bridge (seed 002):
//
//	provider ── eth0: gateway/64 (outside alloc), alloc on-link, radvd
//	   │              lo: internet/128
//	   │ eth0: dom0 alloc::1/64, route to gateway, default via gateway
//	 dom0 ── br0 (a bridge in dom0): alloc::1/64
//	           ├── domU1 alloc::<first>/64, default via alloc::1
//	           └── domU2 ...
//
// The seed writes the allocation as 2001:DB8:3:2:1::/64 and the gateway as
// 2001:DB8:3:2::1, "outside the /64". As prefixes that is wrong: the /64 of
// 2001:db8:3:2:1:: is 2001:db8:3:2::/64, which holds the gateway, and guests
// would then take the gateway for an on-link neighbour on br0 and never
// reach it. What the seed means, and what a provider like Hetzner does, is a
// gateway in another /64 of the same /48; the tests build exactly that.
type s2Params struct {
	alloc    netip.Prefix // the /64 the provider routes to dom0's link
	gateway  netip.Addr   // the provider's address, outside alloc
	internet netip.Addr   // an address behind the provider, on its loopback
	guests   int
	first    uint64 // the first guest's interface identifier (::10)
}

type s2 struct {
	s2Params
	lab      *netns.Lab
	provider *netns.Host
	dom0     *netns.Host
	br0      *netns.Switch
	guests   []guest
}

type guest struct {
	*netns.Host
	addr netip.Addr
}

func buildS2(t *testing.T, p s2Params) *s2 {
	t.Helper()
	lab := netns.New(t)
	s := &s2{s2Params: p, lab: lab}

	s.provider = lab.Router("provider")
	s.dom0 = lab.Host("dom0")
	// dom0's addresses are static configuration (ifupdown): they survive
	// the link flaps the tests do, as ifupdown would re-add them.
	s.dom0.SetSysctl("net.ipv6.conf.default.keep_addr_on_down=1")
	lab.Link(s.provider, "eth0", s.dom0, "eth0")

	s.provider.AddAddr("eth0", netip.PrefixFrom(p.gateway, 64))
	s.provider.MustIP("-6", "route", "replace", p.alloc.String(), "dev", "eth0")
	s.provider.AddAddr("lo", netip.PrefixFrom(p.internet, 128))
	s.provider.Radvd("eth0", fmt.Sprintf("prefix %v { AdvOnLink on; AdvAutonomous off; };", p.alloc))
	s.provider.ServeTCP(echoPort)

	s.br0 = s.dom0.Bridge("br0")
	s.dom0.AddAddr("eth0", host(p.alloc, 1))
	s.dom0.AddAddr("br0", host(p.alloc, 1))
	s.dom0Routes()

	for i := 0; i < p.guests; i++ {
		s.addGuest(t)
	}
	return s
}

// dom0Routes adds dom0's own routes: the gateway outside the /64 is on-link
// on eth0, and it is the default router. ifupdown's "up" lines do this
// after every ifup.
func (s *s2) dom0Routes() {
	s.dom0.MustIP("-6", "route", "replace", s.gateway.String(), "dev", "eth0")
	s.dom0.MustIP("-6", "route", "replace", "default", "via", s.gateway.String(), "dev", "eth0")
}

// addGuest starts one more domU on br0.
func (s *s2) addGuest(t *testing.T) guest {
	t.Helper()
	n := len(s.guests)
	h := s.lab.Host(fmt.Sprintf("domU%d", n+1))
	s.br0.Attach(h, "eth0")
	g := guest{Host: h, addr: host(s.alloc, s.first+uint64(n)).Addr()}
	h.AddAddr("eth0", netip.PrefixFrom(g.addr, 64))
	h.MustIP("-6", "route", "replace", "default", "via", host(s.alloc, 1).Addr().String(), "dev", "eth0")
	h.ServeTCP(echoPort)
	s.guests = append(s.guests, g)
	return g
}

func (s *s2) config() string {
	return fmt.Sprintf(`config proxy 'guests'
	option upstream 'eth0'
	list downstream 'br0'
	list prefix '%v'
	option verify 'auto'
	option route 'prefix'
`, s.alloc)
}

// reachGuests checks provider <-> every guest, after a fresh neighbour
// discovery on the provider's side.
func (s *s2) reachGuests(t *testing.T, d *daemon, timeout time.Duration) {
	t.Helper()
	s.provider.FlushNeigh("eth0")
	for _, g := range s.guests {
		reach(t, d, s.provider, g.addr, g.Name, timeout)
		reach(t, d, g.Host, s.gateway, "provider", 5*time.Second)
		if err := g.Ping(s.internet); err != nil {
			t.Errorf("%s cannot reach the provider's internet address %v: %v", g.Name, s.internet, err)
		}
	}
}

// routesToBr0 checks, with the kernel's own route lookup on dom0, that
// packets for every guest leave through br0.
func (s *s2) routesToBr0(t *testing.T) {
	t.Helper()
	for _, g := range s.guests {
		out, err := s.dom0.IP("-6", "route", "get", g.addr.String())
		if err != nil || !strings.Contains(out, " dev br0 ") {
			t.Errorf("dom0: ip -6 route get %v = %q (%v), want dev br0", g.addr, out, err)
		}
	}
}

func TestS2Guests(t *testing.T) {
	for _, p := range []s2Params{
		{
			alloc:    netip.MustParsePrefix("2001:db8:3:3::/64"),
			gateway:  netip.MustParseAddr("2001:db8:3:2::1"),
			internet: netip.MustParseAddr("2001:db8:ffff:3::1"),
			guests:   4,
			first:    0x10,
		},
		{
			alloc:    netip.MustParsePrefix("2001:db8:77:e00::/64"),
			gateway:  netip.MustParseAddr("2001:db8:77:e::1"),
			internet: netip.MustParseAddr("2001:db8:ffff:77::1"),
			guests:   2,
			first:    0xcafe_0000_0000_0001,
		},
	} {
		t.Run(fmt.Sprintf("%v/%d guests", p.alloc, p.guests), func(t *testing.T) {
			t.Parallel()
			testS2(t, p)
		})
	}
}

func testS2(t *testing.T, p s2Params) {
	s := buildS2(t, p)
	d := newDaemon(t, s.dom0, s.config())
	d.start()

	t.Run("provider and guests reach each other", func(t *testing.T) {
		s.reachGuests(t, d, 15*time.Second)
	})
	t.Run("route points at br0", s.routesToBr0)
	t.Run("guest added later", func(t *testing.T) {
		g := s.addGuest(t)
		reach(t, d, s.provider, g.addr, g.Name, 10*time.Second)
		reach(t, d, g.Host, s.gateway, "provider", 5*time.Second)
	})
	t.Run("br0 down and up", func(t *testing.T) {
		s.dom0.SetLink("br0", false)
		s.dom0.SetLink("br0", true)
		s.reachGuests(t, d, 10*time.Second)
		s.routesToBr0(t)
	})
	t.Run("eth0 down and up", func(t *testing.T) {
		s.dom0.SetLink("eth0", false)
		s.dom0.SetLink("eth0", true)
		s.dom0Routes()
		s.reachGuests(t, d, 10*time.Second)
		s.routesToBr0(t)
	})
}

// TestS2WithoutNdproxy proves the S2 checks can fail: without a proxy the
// provider cannot reach a guest although dom0 forwards and routes the /64 to
// br0; with the kernel's own proxy entries added by hand, every S2 check
// passes on the same lab.
func TestS2WithoutNdproxy(t *testing.T) {
	t.Parallel()
	s := buildS2(t, s2Params{
		alloc:    netip.MustParsePrefix("2001:db8:3:5::/64"),
		gateway:  netip.MustParseAddr("2001:db8:3:4::1"),
		internet: netip.MustParseAddr("2001:db8:ffff:3::1"),
		guests:   2,
		first:    0x10,
	})
	// Everything ndproxy would do but the proxying (the seed's steps).
	s.dom0.SetSysctl("net.ipv6.conf.eth0.accept_ra=2", "net.ipv6.conf.all.forwarding=1")
	s.dom0.MustIP("-6", "route", "replace", s.alloc.String(), "dev", "br0", "metric", "1")

	t.Run("no proxy", func(t *testing.T) {
		for _, g := range s.guests {
			if err := netns.Poll(3*time.Second, func() error { return s.dom0.Ping(g.addr) }); err != nil {
				t.Errorf("dom0 cannot reach %s: %v", g.Name, err)
			}
			if mac, err := s.provider.Resolve(g.addr, "eth0"); !errors.Is(err, netns.ErrNoAnswer) {
				t.Errorf("%s answered for without a proxy by %v (%v)", g.Name, mac, err)
			}
			unreachable(t, s.provider, g.addr, g.Name+" without a proxy")
		}
	})
	t.Run("kernel proxy", func(t *testing.T) {
		s.dom0.SetSysctl("net.ipv6.conf.eth0.proxy_ndp=1", "net.ipv6.neigh.eth0.proxy_delay=0")
		for _, g := range s.guests {
			s.dom0.MustIP("-6", "neigh", "add", "proxy", g.addr.String(), "dev", "eth0")
		}
		s.reachGuests(t, nil, 5*time.Second)
		s.routesToBr0(t)
	})
}
