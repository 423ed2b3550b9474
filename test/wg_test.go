package test

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
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

	// A wireguard-go that was killed leaves its socket behind; listing all
	// devices would fail on it. ndproxy reads its own devices one by one.
	staleSocket(t)

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
			return hasAddr(s.vps, s.vpsWG.Dev, want)
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
		if err := hasAddr(s.vps, s.vpsWG.Dev, wg.LinkLocal(k)); err == nil {
			t.Errorf("the derived link-local is left on %s after SIGTERM", s.vpsWG.Dev)
		}
		if changed := changedSysctls(sysctls, ipv6Sysctls(t, s.vps)); len(changed) > 0 {
			t.Errorf("vps's sysctls not restored after SIGTERM:\n%s", strings.Join(changed, "\n"))
		}
	})
}

// S4 — a site joined over WireGuard, its router configured by RAs that
// cross the tunnel (seed 003):
//
//	home (radvd: home/64; lo: internet; site/64 routed to wgsrv, as a delegation)
//	  │ eth0
//	  │ eth0: wgsrv, SLAAC in home/64, runs ndproxy: ra_relay from eth0 to wgX
//	 wgsrv wgX ══ WireGuard (over under0, IPv4) ══ wgY rws (forwarding, accept_ra=2)
//	                                               rws lan0: site::1/64, radvd ── pc (SLAAC)
//
// Neither WireGuard device has a link-local address of its own (kernel
// WireGuard has none): each gets the one derived from its key, from ndproxy's
// wireguard section (rws runs ndproxy for that alone). wgsrv's peer rws holds
// no multicast allowed-ips, so an RA to all-nodes could not reach it: the
// relayed RAs must go to rws's derived link-local, one copy per peer.
func TestS4WireGuardRA(t *testing.T) {
	t.Parallel()
	lab := netns.New(t)
	homeNet := netip.MustParsePrefix("2001:db8:7::/64")
	site := netip.MustParsePrefix("2001:db8:7:1::/64")
	internet := netip.MustParseAddr("2001:db8:ffff:7::1")

	home := lab.Router("home")
	wgsrv := lab.Host("wgsrv")
	rws := lab.Router("rws")
	pc := lab.Host("pc")
	lab.Link(home, "eth0", wgsrv, "eth0")
	lab.Link(wgsrv, "under0", rws, "under0")
	lab.Link(rws, "lan0", pc, "eth0")
	home.AddAddr("eth0", host(homeNet, 1))
	home.AddAddr("lo", netip.PrefixFrom(internet, 128))
	home.Radvd("eth0", fmt.Sprintf(`
	AdvDefaultLifetime 30;
	prefix %v { AdvOnLink on; AdvAutonomous on; };`, homeNet))
	home.MustIP("-6", "route", "replace", site.String(), "via", wgsrv.LinkLocal("eth0").WithZone("").String(), "dev", "eth0")
	home.ServeTCP(echoPort)
	wgsrv.MustIP("addr", "add", "10.56.0.1/30", "dev", "under0")
	rws.MustIP("addr", "add", "10.56.0.2/30", "dev", "under0")

	srvWG := wgsrv.WireGuard(51820)
	rwsWG := rws.WireGuard(51821)
	keyOf := func(w *netns.WireGuard) netip.Addr {
		k, err := wg.ParseKey(w.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		return wg.LinkLocal(k)
	}
	srvLL, rwsLL := keyOf(srvWG), keyOf(rwsWG)
	// rws autoconfigures its tunnel address from the relayed prefix with
	// the interface identifier of its link-local (the kernel's
	// ipv6_inherit_eui64: a tun has no hardware address).
	rwsIID := rwsLL.As16()
	rwsAddr := homeNet.Addr().As16()
	copy(rwsAddr[8:], rwsIID[8:])
	rwsTunnel := netip.AddrFrom16(rwsAddr)
	if err := netns.Connect(srvWG, netip.MustParseAddr("10.56.0.1"),
		[]netip.Prefix{netip.PrefixFrom(rwsLL, 128), netip.PrefixFrom(rwsTunnel, 128), site},
		rwsWG, netip.MustParseAddr("10.56.0.2"), []netip.Prefix{netip.MustParsePrefix("::/0")}); err != nil {
		t.Fatal(err)
	}
	// The delegated /64 goes into the tunnel, as OpenWrt's
	// route_allowed_ips would put it.
	wgsrv.MustIP("-6", "route", "replace", site.String(), "dev", srvWG.Dev)

	rws.SetSysctl("net.ipv6.conf." + rwsWG.Dev + ".accept_ra=2")
	rws.AddAddr("lan0", host(site, 1))
	rws.Radvd("lan0", fmt.Sprintf(`
	prefix %v { AdvOnLink on; AdvAutonomous on; };`, site))
	rws.ServeTCP(echoPort)
	pc.ServeTCP(echoPort)
	pcAddr, err := pc.WaitAddr("eth0", site, 10*time.Second)
	if err != nil {
		t.Fatalf("pc SLAAC: %v", err)
	}
	if _, err := wgsrv.WaitAddr("eth0", homeNet, 10*time.Second); err != nil {
		t.Fatalf("wgsrv SLAAC: %v", err)
	}

	rwsD := newDaemon(t, rws, fmt.Sprintf("config wireguard 'tunnel'\n\toption device '%s'\n", rwsWG.Dev))
	rwsD.start()
	if err := netns.Poll(10*time.Second, func() error { return hasAddr(rws, rwsWG.Dev, rwsLL) }); err != nil {
		t.Fatalf("rws's ndproxy did not put the derived link-local on %s: %v", rwsWG.Dev, err)
	}

	t.Run("without ndproxy on wgsrv it fails", func(t *testing.T) {
		time.Sleep(time.Second)
		if out := rws.MustIP("-6", "route", "show", "default"); out != "" {
			t.Errorf("rws has a default route without the relay: %q", out)
		}
		unreachable(t, pc, host(homeNet, 1).Addr(), "the home router")
	})

	d := newDaemon(t, wgsrv, fmt.Sprintf(`config proxy 'home'
	option upstream 'eth0'
	list downstream '%s'
	option ra_relay '1'

config wireguard 'tunnel'
	option device '%s'
`, srvWG.Dev, srvWG.Dev))
	d.start()

	t.Run("an RA crosses the tunnel", func(t *testing.T) {
		if !within(t, 20*time.Second, "rws's default route over the tunnel", func() error {
			out, err := rws.IP("-6", "route", "show", "default")
			if err == nil && (!strings.Contains(out, "via "+srvLL.String()) || !strings.Contains(out, "dev "+rwsWG.Dev) || !strings.Contains(out, "proto ra")) {
				err = fmt.Errorf("rws has no RA default route via %v dev %s: %q", srvLL, rwsWG.Dev, out)
			}
			return err
		}) {
			return
		}
		if _, err := rws.WaitAddr(rwsWG.Dev, homeNet, 10*time.Second); err != nil {
			t.Errorf("rws did not autoconfigure from the relayed prefix: %v", err)
		}
	})

	t.Run("a host behind the far router reaches the home side and back", func(t *testing.T) {
		reach(t, d, pc, host(homeNet, 1).Addr(), "home", 10*time.Second)
		if err := pc.Ping(internet); err != nil {
			t.Errorf("pc cannot reach the home router's internet address: %v", err)
		}
		reach(t, d, home, pcAddr, "pc", 10*time.Second)
	})

	t.Run("the home side reaches the far router's tunnel address", func(t *testing.T) {
		reach(t, d, home, rwsTunnel, "rws", 10*time.Second)
	})
}

// staleSocket leaves a socket nobody listens on in /var/run/wireguard for
// the rest of the test, as a killed wireguard-go does.
func staleSocket(t *testing.T) {
	t.Helper()
	path := fmt.Sprintf("/var/run/wireguard/stale%d-%d.sock", os.Getpid()%100000, time.Now().UnixNano()%1000)
	if err := os.MkdirAll("/var/run/wireguard", 0o700); err != nil {
		t.Fatal(err)
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	l.Close()
	t.Cleanup(func() { os.Remove(path) })
	if _, err := net.Dial("unix", path); err == nil {
		t.Fatalf("bad test: %s still accepts connections", path)
	}
}

// hasAddr says whether dev of h carries addr.
func hasAddr(h *netns.Host, dev string, addr netip.Addr) error {
	addrs, err := h.Addrs(dev)
	if err != nil {
		return err
	}
	for _, a := range addrs {
		if a.Prefix.Addr() == addr {
			return nil
		}
	}
	return fmt.Errorf("%v not on %s of %s: %v", addr, dev, h.Name, addrs)
}
