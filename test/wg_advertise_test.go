package test

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ndproxy/ndproxy/internal/wg"
	"github.com/ndproxy/ndproxy/test/netns"
)

// TestS4Advertise is S4 with the tunnel as OpenWrt stacks it: the server's
// WireGuard device carries a /64 of the delegated prefix (netifd's
// ip6assign on a static interface over wg0 puts such an address there), and
// ndproxy on the server is the router on the tunnel, sending RAs for it to
// each peer's key-derived link-local: a far router, which relays them onto
// its LAN with its own ndproxy, and a roaming laptop. Then the delegated prefix changes: the server's
// device gets an address from the new one, and the far LAN follows without
// a restart, the old prefix deprecated at once.
func TestS4Advertise(t *testing.T) {
	t.Parallel()
	lab := netns.New(t)
	homeNet := netip.MustParsePrefix("2001:db8:7::/64")
	delegated := netip.MustParsePrefix("2001:db8:7:4::/62")
	renumbered := netip.MustParsePrefix("2001:db8:7:8::/62")
	site, newSite := subnet(delegated, 64, 0), subnet(renumbered, 64, 0)

	home := lab.Router("home")
	wgsrv := lab.Router("wgsrv")
	rws := lab.Router("rws")
	pc := lab.Host("pc")
	laptop := lab.Host("laptop")
	lab.Link(home, "eth0", wgsrv, "eth0")
	lab.Link(wgsrv, "under0", rws, "under0")
	lab.Link(wgsrv, "under1", laptop, "under0")
	lab.Link(rws, "lan0", pc, "eth0")
	// pc does DAD, as hosts do: nobody asks for pc from the tunnel side
	// (WireGuard has no neighbour discovery), so its DAD is how rws's
	// ndproxy learns it.
	pc.SetSysctl("net.ipv6.conf.eth0.accept_dad=1")
	home.AddAddr("eth0", host(homeNet, 1))
	home.Radvd("eth0", fmt.Sprintf(`
	prefix %v { AdvOnLink on; AdvAutonomous on; };`, homeNet))
	// Both delegations are routed to wgsrv, as a DHCPv6 server's
	// renewals would.
	for _, p := range []netip.Prefix{delegated, renumbered} {
		home.MustIP("-6", "route", "replace", p.String(), "via", wgsrv.LinkLocal("eth0").WithZone("").String(), "dev", "eth0")
	}
	home.ServeTCP(echoPort)
	wgsrv.SetSysctl("net.ipv6.conf.eth0.accept_ra=2")
	wgsrv.MustIP("addr", "add", "10.57.0.1/30", "dev", "under0")
	rws.MustIP("addr", "add", "10.57.0.2/30", "dev", "under0")
	wgsrv.MustIP("addr", "add", "10.57.1.1/30", "dev", "under1")
	laptop.MustIP("addr", "add", "10.57.1.2/30", "dev", "under0")

	srvWG := wgsrv.WireGuard(51830)
	rwsWG := rws.WireGuard(51831)
	laptopWG := laptop.WireGuard(51832)
	keyLL := func(w *netns.WireGuard) netip.Addr {
		k, err := wg.ParseKey(w.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		return wg.LinkLocal(k)
	}
	rwsLL, laptopLL := keyLL(rwsWG), keyLL(laptopWG)
	// The laptop autoconfigures with the interface identifier of its
	// link-local (a tun has no hardware address), so its address in the
	// tunnel's /64 is known in advance, for its allowed-ips.
	laptopAddr := site.Addr().As16()
	iid := laptopLL.As16()
	copy(laptopAddr[8:], iid[8:])
	// The server's peer entry holds the far router's link-local and the
	// delegated ranges (route_allowed_ips on OpenWrt).
	if err := netns.Connect(srvWG, netip.MustParseAddr("10.57.0.1"),
		[]netip.Prefix{netip.PrefixFrom(rwsLL, 128), delegated, renumbered},
		rwsWG, netip.MustParseAddr("10.57.0.2"), []netip.Prefix{netip.MustParsePrefix("::/0")}); err != nil {
		t.Fatal(err)
	}
	if err := netns.Connect(srvWG, netip.MustParseAddr("10.57.1.1"),
		[]netip.Prefix{netip.PrefixFrom(laptopLL, 128), netip.PrefixFrom(netip.AddrFrom16(laptopAddr), 128)},
		laptopWG, netip.MustParseAddr("10.57.1.2"), []netip.Prefix{netip.MustParsePrefix("::/0")}); err != nil {
		t.Fatal(err)
	}
	// The laptop runs no ndproxy: its link-local is added by hand.
	laptop.MustIP("-6", "addr", "add", netip.PrefixFrom(laptopLL, 64).String(), "dev", laptopWG.Dev, "nodad")
	// netifd's ip6assign: an address of the assigned /64 on the device,
	// with the delegated prefix's lifetimes.
	wgsrv.MustIP("-6", "addr", "add", host(site, 1).String(), "dev", srvWG.Dev, "valid_lft", "7200", "preferred_lft", "3600")
	if _, err := wgsrv.WaitAddr("eth0", homeNet, 10*time.Second); err != nil {
		t.Fatalf("wgsrv SLAAC: %v", err)
	}
	if err := netns.Poll(10*time.Second, func() error {
		if out := wgsrv.MustIP("-6", "route", "show", "default"); out == "" {
			return fmt.Errorf("no default route yet")
		}
		return nil
	}); err != nil {
		t.Fatalf("wgsrv has no default route from home: %v", err)
	}

	rws.SetSysctl("net.ipv6.conf." + rwsWG.Dev + ".accept_ra=2")
	rws.ServeTCP(echoPort)
	pc.ServeTCP(echoPort)
	rwsD := newDaemon(t, rws, fmt.Sprintf(`config wireguard 'tunnel'
	option device '%s'

config proxy 'site'
	option upstream '%s'
	list downstream 'lan0'
	option ra_relay '1'
`, rwsWG.Dev, rwsWG.Dev))
	rwsD.start()
	if err := netns.Poll(10*time.Second, func() error { return hasAddr(rws, rwsWG.Dev, rwsLL) }); err != nil {
		t.Fatalf("rws's ndproxy did not put the derived link-local on %s: %v", rwsWG.Dev, err)
	}

	t.Run("without ndproxy on wgsrv nothing is announced", func(t *testing.T) {
		time.Sleep(2 * time.Second)
		if addrs, _ := pc.Addrs("eth0"); slicesAny(addrs, func(a netip.Prefix) bool { return site.Contains(a.Addr()) }) {
			t.Errorf("pc has an address from %v without the advertiser: %v", site, addrs)
		}
		unreachable(t, pc, host(homeNet, 1).Addr(), "the home router")
	})

	d := newDaemon(t, wgsrv, fmt.Sprintf(`config wireguard 'tunnel'
	option device '%s'
	option ra_advertise '1'
	list ra_dns '%v'
`, srvWG.Dev, host(homeNet, 1).Addr()))
	d.start()

	var pcAddr netip.Addr
	t.Run("the tunnel's prefix reaches the far LAN", func(t *testing.T) {
		if !within(t, 20*time.Second, "rws's default route over the tunnel", func() error {
			out, err := rws.IP("-6", "route", "show", "default")
			if err == nil && (!strings.Contains(out, "dev "+rwsWG.Dev) || !strings.Contains(out, "proto ra")) {
				err = fmt.Errorf("rws has no RA default route dev %s: %q", rwsWG.Dev, out)
			}
			return err
		}) {
			return
		}
		if _, err := rws.WaitAddr(rwsWG.Dev, site, 10*time.Second); err != nil {
			t.Errorf("rws did not autoconfigure from the advertised prefix: %v", err)
		}
		var err error
		if pcAddr, err = pc.WaitAddr("eth0", site, 20*time.Second); err != nil {
			t.Fatalf("pc did not autoconfigure from the relayed prefix: %v", err)
		}
		reach(t, rwsD, pc, host(homeNet, 1).Addr(), "home", 15*time.Second)
		reach(t, rwsD, home, pcAddr, "pc", 10*time.Second)
	})

	t.Run("every peer gets the RAs", func(t *testing.T) {
		// WireGuard would carry a multicast RA to one peer at most: the
		// laptop autoconfigures only from its own unicast copy.
		if got, err := laptop.WaitAddr(laptopWG.Dev, site, 20*time.Second); err != nil {
			t.Fatalf("the laptop did not autoconfigure from the advertised prefix: %v", err)
		} else if got != netip.AddrFrom16(laptopAddr) {
			t.Fatalf("the laptop's address %v, want %v", got, netip.AddrFrom16(laptopAddr))
		}
		reach(t, d, laptop, host(homeNet, 1).Addr(), "home", 15*time.Second)
	})

	t.Run("status shows what is advertised", func(t *testing.T) {
		st := d.status(t)
		if len(st.WireGuard) != 1 || st.WireGuard[0].RAAdvertise == nil {
			t.Fatalf("status has no advertiser: %+v", st.WireGuard)
		}
		a := st.WireGuard[0].RAAdvertise
		if a.State != "advertising" || len(a.Advertised) != 1 || a.Advertised[0] != site.String() || a.Links[0].Sent == 0 {
			t.Errorf("advertiser status %+v", a)
		}
	})

	t.Run("a renumbering is followed without a restart", func(t *testing.T) {
		if !pcAddr.IsValid() {
			t.Skip("no first address")
		}
		// What netifd does when the delegated prefix changes: the old
		// assignment's address goes, the new one's comes.
		wgsrv.MustIP("-6", "addr", "del", host(site, 1).String(), "dev", srvWG.Dev)
		wgsrv.MustIP("-6", "addr", "add", host(newSite, 1).String(), "dev", srvWG.Dev, "valid_lft", "7200", "preferred_lft", "3600")
		newAddr, err := pc.WaitAddr("eth0", newSite, 20*time.Second)
		if err != nil {
			t.Fatalf("pc did not autoconfigure from the new prefix: %v", err)
		}
		if !within(t, 10*time.Second, "pc's old address deprecated", func() error {
			out, err := pc.IP("-6", "addr", "show", "dev", "eth0")
			if err != nil {
				return err
			}
			for _, line := range strings.Split(out, "\n") {
				if strings.Contains(line, pcAddr.String()+"/") && !strings.Contains(line, "deprecated") {
					return fmt.Errorf("%s is not deprecated: %q", pcAddr, line)
				}
			}
			return nil
		}) {
			return
		}
		reach(t, rwsD, home, newAddr, "pc", 15*time.Second)
		// The new address is the one pc uses now.
		out, err := pc.IP("-6", "route", "get", host(homeNet, 1).Addr().String())
		if err != nil || !strings.Contains(out, "src "+newAddr.String()) {
			t.Errorf("pc's source towards home is not its new address %v: %q %v", newAddr, out, err)
		}
		st := d.status(t)
		if a := st.WireGuard[0].RAAdvertise; len(a.Withdrawn) != 1 || a.Withdrawn[0] != site.String() {
			t.Errorf("advertiser status after renumbering %+v", a)
		}
	})

	t.Run("on stop the far side loses its default route through us", func(t *testing.T) {
		d.stop()
		if !within(t, 10*time.Second, "rws's default route gone", func() error {
			if out, _ := rws.IP("-6", "route", "show", "default", "dev", rwsWG.Dev); out != "" {
				return fmt.Errorf("still there: %q", out)
			}
			return nil
		}) {
			t.Log("ndproxy's goodbye RA (router lifetime 0) did not arrive")
		}
	})
}

func slicesAny(addrs []netns.Addr, f func(netip.Prefix) bool) bool {
	for _, a := range addrs {
		if f(a.Prefix) {
			return true
		}
	}
	return false
}
