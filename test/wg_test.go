package test

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ndproxy/ndproxy/internal/wg"
	"github.com/ndproxy/ndproxy/test/netns"
)

// S3 — one address of a VPS /64 lent over WireGuard (seed 004):
//
//	provider (radvd, link-local source; lo: internet/128; prefix/64 on eth0)
//	   │ eth0
//	   │ eth0: vps, SLAAC in prefix, runs ndproxy (forwarding, accept_ra=2)
//	  vps wgX ══ WireGuard (over under0, IPv4) ══ wgY ws: prefix::2/128
//	                                            ══ wgZ ws2: prefix::4/128 (added later)
//
// The tunnel's UDP runs over separate veth links with IPv4 addresses, so
// that nothing but the proxied traffic crosses eth0.
type s3 struct {
	lab           *netns.Lab
	provider, vps *netns.Host
	ws            *netns.Host
	vpsWG, wsWG   *netns.WireGuard
	prefix        netip.Prefix
	internet      netip.Addr
	vpsUnder      netip.Addr // the VPS's IPv4 end of the workstations' underlay
}

// s3RouterLifetime is how long the VPS keeps the provider's default route
// after the last RA it accepted.
const s3RouterLifetime = 6 * time.Second

func buildS3(t *testing.T) *s3 {
	t.Helper()
	lab := netns.New(t)
	s := &s3{
		lab:      lab,
		prefix:   netip.MustParsePrefix("2001:db8:5::/64"),
		internet: netip.MustParseAddr("2001:db8:ffff::1"),
		vpsUnder: netip.MustParseAddr("10.55.0.1"),
	}
	s.provider = lab.Router("provider")
	s.vps = lab.Host("vps")
	s.ws = lab.Host("ws")
	lab.Link(s.provider, "eth0", s.vps, "eth0")
	s.provider.AddAddr("lo", netip.PrefixFrom(s.internet, 128))
	// The provider reaches the /64 on-link without an address in it, as
	// a provider router whose RAs come from its link-local does.
	s.provider.MustIP("-6", "route", "replace", s.prefix.String(), "dev", "eth0")
	s.provider.Radvd("eth0", fmt.Sprintf(`
	AdvDefaultLifetime %d;
	prefix %v { AdvOnLink on; AdvAutonomous on; };`, int(s3RouterLifetime.Seconds()), s.prefix))

	lab.Link(s.vps, "under0", s.ws, "under0")
	s.vps.MustIP("addr", "add", "10.55.0.1/30", "dev", "under0")
	s.ws.MustIP("addr", "add", "10.55.0.2/30", "dev", "under0")

	s.vpsWG = s.vps.WireGuard(51820)
	s.wsWG = s.ws.WireGuard(51821)
	if err := netns.Connect(s.vpsWG, s.vpsUnder, []netip.Prefix{addr128(s.prefix, 2)},
		s.wsWG, netip.MustParseAddr("10.55.0.2"), []netip.Prefix{netip.MustParsePrefix("::/0")}); err != nil {
		t.Fatal(err)
	}
	s.ws.AddAddr(s.wsWG.Dev, addr128(s.prefix, 2))
	s.ws.MustIP("-6", "route", "replace", "default", "dev", s.wsWG.Dev)
	s.ws.ServeTCP(echoPort)

	if _, err := s.vps.WaitAddr("eth0", s.prefix, 10*time.Second); err != nil {
		t.Fatalf("vps SLAAC: %v", err)
	}
	if err := netns.Poll(10*time.Second, s.vpsDefaultRoute); err != nil {
		t.Fatal(err)
	}
	return s
}

func addr128(p netip.Prefix, n uint64) netip.Prefix { return subnet(p, 128, n) }

// vpsDefaultRoute checks that the VPS has the default route the provider's
// RAs give.
func (s *s3) vpsDefaultRoute() error {
	out, err := s.vps.IP("-6", "route", "show", "default")
	if err != nil {
		return err
	}
	if !strings.Contains(out, "dev eth0") || !strings.Contains(out, "proto ra") {
		return fmt.Errorf("vps has no RA default route on eth0: %q", out)
	}
	return nil
}

func (s *s3) config(extra ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "config proxy 'vps'\n\toption upstream 'eth0'\n\tlist downstream '%s'\n\tlist prefix_from 'eth0'\n\n", s.vpsWG.Dev)
	fmt.Fprintf(&b, "config wireguard 'tunnel'\n\toption device '%s'\n", s.vpsWG.Dev)
	for _, e := range extra {
		fmt.Fprintf(&b, "\t%s\n", e)
	}
	return b.String()
}

// answered reports whether the provider's kernel resolves addr on eth0 now,
// after dropping what it knew: what any host on the VPS's link would see.
func (s *s3) answered(addr netip.Addr) (bool, error) {
	_, err := s.provider.Resolve(addr, "eth0")
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, netns.ErrNoAnswer):
		return false, nil
	}
	return false, err
}

// ownedRoute returns ndproxy's route for p on the VPS, empty if none.
func (s *s3) ownedRoute(p netip.Prefix) string {
	return s.vps.MustIP("-6", "route", "show", "exact", p.String(), "proto", "78")
}

// within polls f for up to timeout and logs how long it took; the test fails
// with what f said last.
func within(t *testing.T, timeout time.Duration, what string, f func() error) bool {
	t.Helper()
	start := time.Now()
	if err := netns.Poll(timeout, f); err != nil {
		t.Errorf("%s: %v", what, err)
		return false
	}
	t.Logf("%s after %v", what, time.Since(start).Round(time.Millisecond))
	return true
}

func TestS3WireGuard(t *testing.T) {
	t.Parallel()
	s := buildS3(t)
	ws := addr128(s.prefix, 2).Addr()

	// Without ndproxy the tunnel works but the provider cannot reach the
	// workstation: nobody answers its Neighbor Solicitations for ::2.
	t.Run("without ndproxy it fails", func(t *testing.T) {
		// The tunnel itself is up: the workstation's keepalives made a
		// handshake.
		if err := netns.Poll(5*time.Second, func() error {
			out, err := s.vps.Run("wg", "show", s.vpsWG.Dev, "latest-handshakes")
			if f := strings.Fields(out); err == nil && (len(f) != 2 || f[1] == "0") {
				err = fmt.Errorf("no handshake yet: %q", out)
			}
			return err
		}); err != nil {
			t.Fatalf("bad test: the tunnel does not work: %v", err)
		}
		unreachable(t, s.provider, ws, "the workstation")
		if ok, err := s.answered(ws); err != nil || ok {
			t.Errorf("%v answered without ndproxy (err %v)", ws, err)
		}
	})

	d := newDaemon(t, s.vps, s.config())
	sysctls := ipv6Sysctls(t, s.vps)
	d.start()
	started := time.Now()

	t.Run("provider reaches the workstation", func(t *testing.T) {
		reach(t, d, s.provider, ws, "ws", 15*time.Second)
		if r := s.ownedRoute(addr128(s.prefix, 2)); !strings.Contains(r, s.vpsWG.Dev) {
			t.Errorf("no route of ndproxy for %v into %s: %q", ws, s.vpsWG.Dev, r)
		}
	})

	t.Run("an address no peer owns is never answered for", func(t *testing.T) {
		for _, n := range []uint64{3, 0xffff} {
			a := addr128(s.prefix, n).Addr()
			if ok, err := s.answered(a); err != nil || ok {
				t.Errorf("%v is answered for (err %v); no peer owns it", a, err)
			}
		}
	})

	t.Run("derived link-local on the device", func(t *testing.T) {
		k, err := wg.ParseKey(s.vpsWG.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		want := wg.LinkLocal(k)
		within(t, 10*time.Second, fmt.Sprintf("%s has %v", s.vpsWG.Dev, want), func() error {
			return s.hasAddr(s.vpsWG.Dev, want)
		})
	})

	t.Run("an allowed-ip added is proxied and routed, removed is withdrawn", func(t *testing.T) {
		extra := addr128(s.prefix, 3)
		s.ws.AddAddr(s.wsWG.Dev, extra)
		set := func(allowed ...netip.Prefix) {
			t.Helper()
			if err := s.vpsWG.SetPeer(netns.Peer{PublicKey: s.wsWG.PublicKey, AllowedIPs: allowed}); err != nil {
				t.Fatal(err)
			}
		}
		set(addr128(s.prefix, 2), extra)
		if !within(t, 10*time.Second, "provider pings the added allowed-ip", func() error {
			return s.provider.Ping(extra.Addr())
		}) {
			return
		}
		reach(t, d, s.provider, extra.Addr(), "ws", 3*time.Second)

		set(addr128(s.prefix, 2))
		within(t, 10*time.Second, "the removed allowed-ip is withdrawn", func() error {
			if r := s.ownedRoute(extra); r != "" {
				return fmt.Errorf("route still there: %s", r)
			}
			if ok, err := s.answered(extra.Addr()); err != nil || ok {
				return fmt.Errorf("%v still answered (err %v)", extra.Addr(), err)
			}
			return nil
		})
		// The other address of the same peer is untouched.
		reach(t, d, s.provider, ws, "ws", 3*time.Second)
	})

	t.Run("a peer added is proxied and routed, removed is withdrawn", func(t *testing.T) {
		ws2 := s.lab.Host("ws2")
		s.lab.Link(s.vps, "under1", ws2, "under0")
		s.vps.MustIP("addr", "add", "10.55.1.1/30", "dev", "under1")
		ws2.MustIP("addr", "add", "10.55.1.2/30", "dev", "under0")
		ws2WG := ws2.WireGuard(51822)
		a := addr128(s.prefix, 4)
		ws2.AddAddr(ws2WG.Dev, a)
		ws2.MustIP("-6", "route", "replace", "default", "dev", ws2WG.Dev)
		ws2.ServeTCP(echoPort)
		if err := netns.Connect(s.vpsWG, netip.MustParseAddr("10.55.1.1"), []netip.Prefix{a},
			ws2WG, netip.MustParseAddr("10.55.1.2"), []netip.Prefix{netip.MustParsePrefix("::/0")}); err != nil {
			t.Fatal(err)
		}
		if !within(t, 10*time.Second, "provider pings the new peer", func() error {
			return s.provider.Ping(a.Addr())
		}) {
			return
		}
		reach(t, d, s.provider, a.Addr(), "ws2", 3*time.Second)

		if err := s.vpsWG.RemovePeer(ws2WG.PublicKey); err != nil {
			t.Fatal(err)
		}
		within(t, 10*time.Second, "the removed peer is withdrawn", func() error {
			if r := s.ownedRoute(a); r != "" {
				return fmt.Errorf("route still there: %s", r)
			}
			if ok, err := s.answered(a.Addr()); err != nil || ok {
				return fmt.Errorf("%v still answered (err %v)", a.Addr(), err)
			}
			return nil
		})
		unreachable(t, s.provider, a.Addr(), "the removed peer")
	})

	t.Run("a route someone else made is used, not duplicated", func(t *testing.T) {
		a := addr128(s.prefix, 5)
		s.ws.AddAddr(s.wsWG.Dev, a)
		s.vps.MustIP("-6", "route", "add", a.String(), "dev", s.vpsWG.Dev, "proto", "static")
		if err := s.vpsWG.SetPeer(netns.Peer{PublicKey: s.wsWG.PublicKey, AllowedIPs: []netip.Prefix{addr128(s.prefix, 2), a}}); err != nil {
			t.Fatal(err)
		}
		within(t, 10*time.Second, "provider pings the allowed-ip with the admin's route", func() error {
			return s.provider.Ping(a.Addr())
		})
		if r := s.ownedRoute(a); r != "" {
			t.Errorf("ndproxy duplicated the admin's route: %s", r)
		}
	})

	t.Run("vps keeps its default route", func(t *testing.T) {
		sleepUntil(started.Add(2*netns.MaxRAInterval + s3RouterLifetime/2))
		if err := s.vpsDefaultRoute(); err != nil {
			t.Error(err)
		}
		if err := s.vps.Ping(s.internet); err != nil {
			t.Errorf("vps cannot reach the provider's internet address: %v", err)
		}
		if err := s.ws.Ping(s.internet); err != nil {
			t.Errorf("the workstation cannot reach the internet address over the tunnel: %v", err)
		}
	})

	t.Run("stop removes routes and the link-local", func(t *testing.T) {
		k, _ := wg.ParseKey(s.vpsWG.PublicKey)
		d.stop()
		if out := s.vps.MustIP("-6", "route", "show", "table", "all", "proto", "78"); out != "" {
			t.Errorf("routes of ndproxy left after SIGTERM:\n%s", out)
		}
		if err := s.hasAddr(s.vpsWG.Dev, wg.LinkLocal(k)); err == nil {
			t.Errorf("the derived link-local is left on %s after SIGTERM", s.vpsWG.Dev)
		}
		if changed := changedSysctls(sysctls, ipv6Sysctls(t, s.vps)); len(changed) > 0 {
			t.Errorf("vps's sysctls not restored after SIGTERM:\n%s", strings.Join(changed, "\n"))
		}
	})
}

// hasAddr says whether dev of the VPS carries addr.
func (s *s3) hasAddr(dev string, addr netip.Addr) error {
	addrs, err := s.vps.Addrs(dev)
	if err != nil {
		return err
	}
	for _, a := range addrs {
		if a.Prefix.Addr() == addr {
			return nil
		}
	}
	return fmt.Errorf("%v not on %s: %v", addr, dev, addrs)
}
