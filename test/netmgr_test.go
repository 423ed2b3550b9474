package test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ndproxy/ndproxy/internal/control"
	"github.com/ndproxy/ndproxy/internal/dbusapi/dbustest"
	"github.com/ndproxy/ndproxy/internal/netmgr/netmgrtest"
	"github.com/ndproxy/ndproxy/test/netns"
)

// TestDelegatedFromNetworkd: on plain Linux, prefix_from '<device>' takes
// the delegated prefixes systemd-networkd holds on the device, as it takes
// netifd's on OpenWrt. networkd is the stand-in of netmgrtest on a real
// dbus-daemon (this machine's networkd, 252, publishes no delegated
// prefixes); the judge is the laptop's kernel resolving the pis' addresses.
//
//	laptop ─ home switch ─ wlan0 gw eth0 ─ island switch ─ pi41: lan:d0::41/80
//	lan::100/64                (link-local                   pi42: lan:e0::42/80
//	                            only on wlan0)
//
// gw's wlan0 has no address in lan, so it has no on-link prefix to give:
// only a delegated prefix can make ndproxy answer.
func TestDelegatedFromNetworkd(t *testing.T) {
	t.Parallel()
	lan := netip.MustParsePrefix("2001:db8:d1:1::/64")
	first, second := subnet(lan, 80, 0xd0), subnet(lan, 80, 0xe0)

	lab := netns.New(t)
	home, island := lab.Switch("home"), lab.Switch("island")
	laptop, gw := lab.Host("laptop"), lab.Host("gw")
	home.Attach(laptop, "eth0")
	laptop.AddAddr("eth0", host(lan, 0x100))
	home.Attach(gw, "wlan0")
	island.Attach(gw, "eth0")
	gw.AddAddr("eth0", host(netip.MustParsePrefix("fd2f::/64"), 1))
	var pis []pi
	for i, p := range []netip.Prefix{first, second} {
		h := lab.Host(fmt.Sprintf("pi%d", 41+i))
		island.Attach(h, "eth0")
		addr := p.Addr().Next()
		h.AddAddr("eth0", netip.PrefixFrom(addr, 80), "noprefixroute")
		h.MustIP("-6", "route", "replace", "default", "via", gw.LinkLocal("eth0").WithZone("").String(), "dev", "eth0")
		pis = append(pis, pi{Host: h, addr: addr})
	}

	bus := dbustest.Start(t, netmgrtest.Policies(t)...)
	d := newDaemon(t, gw, "config proxy 'island'\n\toption upstream 'wlan0'\n\tlist downstream 'eth0'\n\tlist prefix_from 'wlan0'\n")
	// networkd is not on the bus yet: ndproxy starts as it always did.
	d.proc = gw.StartEnv("ndproxy", []string{"DBUS_SYSTEM_BUS_ADDRESS=" + bus.Address()}, d.bin, "run", "-c", d.conf)

	// answered reports whether the laptop's kernel gets an answer for the
	// pi's address; no answer must come from nobody, not be an error.
	answered := func(p pi) bool {
		t.Helper()
		_, err := laptop.Resolve(p.addr, "eth0")
		if err != nil && !errors.Is(err, netns.ErrNoAnswer) {
			t.Fatal(err)
		}
		return err == nil
	}
	// expect waits until the laptop resolves exactly the pis of want.
	expect := func(step string, want ...bool) {
		t.Helper()
		err := netns.Poll(15*time.Second, func() error {
			if err := d.running(); err != nil {
				return err
			}
			for i, p := range pis {
				if got := answered(p); got != want[i] {
					return fmt.Errorf("%s: laptop resolves %s at %v: %v, want %v", step, p.Name, p.addr, got, want[i])
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%v\nndproxy's log:\n%s", err, d.proc.Log())
		}
		t.Logf("%s: laptop resolves %v", step, want)
	}

	// Without a delegated prefix nothing is proxied: the control.
	expect("no networkd", false, false)
	if log := d.proc.Log(); !strings.Contains(log, "systemd-networkd is not on the bus") || strings.Contains(log, "level=WARN") || strings.Contains(log, "level=ERROR") {
		t.Errorf("without networkd, want the debug line and no warnings; ndproxy's log:\n%s", log)
	}

	links := []netmgrtest.Link{{Index: 1, Name: "lo"}, {Index: 2, Name: "wlan0"}, {Index: 3, Name: "eth0"}}
	nd := netmgrtest.Start(t, bus.Address(), netnsInode(t, gw), links...)
	expect("networkd without a lease", false, false)

	// The /48 holds both pis but is no link's prefix: only /64 and longer are proxied.
	if err := nd.SetPrefixes(2, time.Hour, first, netip.MustParsePrefix("2001:db8:d1::/48")); err != nil {
		t.Fatal(err)
	}
	expect("prefix delegated", true, false)
	if src := prefixSources(t, d)[first.String()]; src != "wlan0 delegated" {
		t.Errorf("status says %s comes from %q, want \"wlan0 delegated\"", first, src)
	}

	if err := nd.SetPrefixes(2, time.Hour, second); err != nil {
		t.Fatal(err)
	}
	expect("prefix renumbered", false, true)

	if err := nd.SetPrefixes(2, 0); err != nil {
		t.Fatal(err)
	}
	expect("lease lost", false, false)

	if err := nd.SetPrefixes(2, 0, first); err != nil {
		t.Fatal(err)
	}
	expect("new lease", true, false)
	nd.Stop()
	expect("networkd stopped", false, false)
	d.stop()
}

// netnsInode is the inode of h's network namespace: what networkd's
// NamespaceId says when networkd runs in h.
func netnsInode(t *testing.T, h *netns.Host) uint64 {
	t.Helper()
	fi, err := os.Stat("/run/netns/" + h.NS)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

// prefixSources reads the sources of the first proxy's prefixes from
// `ndproxy status --json`.
func prefixSources(t *testing.T, d *daemon) map[string]string {
	t.Helper()
	out, err := d.host.Run(d.bin, "status", "--json", "-s", d.sock)
	if err != nil {
		t.Fatal(err)
	}
	var st control.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil || len(st.Proxies) == 0 {
		t.Fatalf("ndproxy status --json: %v\n%s", err, out)
	}
	return st.Proxies[0].PrefixSources
}

// TestRealNetworkd252: with this machine's own systemd-networkd (Debian 12,
// systemd 252) running in gw and on the bus, ndproxy reads its real
// Describe() and NamespaceId, finds no delegated prefix (252 publishes
// none) and runs as it always did: one debug line, no warning.
func TestRealNetworkd252(t *testing.T) {
	t.Parallel()
	const networkd = "/lib/systemd/systemd-networkd"
	if _, err := os.Stat(networkd); err != nil {
		t.Skip("systemd-networkd is not installed")
	}
	lan := netip.MustParsePrefix("2001:db8:d2:1::/64")
	lab := netns.New(t)
	isp, gw, pi := lab.Host("isp"), lab.Host("gw"), lab.Host("pi")
	lab.Link(isp, "lan0", gw, "wlan0")
	lab.Link(gw, "eth0", pi, "eth0")
	bus := dbustest.Start(t, netmgrtest.Policies(t)...)

	// networkd gets a private /run/systemd in a mount namespace of its
	// own, so that neither configuration nor state touch the machine's; it
	// drops to the user systemd-network by itself. It manages no link here
	// (without udev it leaves them pending): what matters is its bus API.
	nd := gw.StartEnv("systemd-networkd", []string{"DBUS_SYSTEM_BUS_ADDRESS=" + bus.Address()}, "unshare", "-m", "sh", "-c",
		"mount -t tmpfs tmpfs /run/systemd && mkdir -p /run/systemd/netif && "+
			"chown systemd-network:systemd-network /run/systemd/netif && exec "+networkd)
	t.Cleanup(func() { _ = nd.Stop(5 * time.Second) })
	gw.AddAddr("wlan0", host(lan, 1))

	d := newDaemon(t, gw, fmt.Sprintf("config proxy 'island'\n\toption upstream 'wlan0'\n\tlist downstream 'eth0'\n\tlist prefix_from 'wlan0'\n\tlist prefix '%v'\n", subnet(lan, 80, 0xd0)))
	d.proc = gw.StartEnv("ndproxy", []string{"DBUS_SYSTEM_BUS_ADDRESS=" + bus.Address()}, d.bin, "run", "-c", d.conf)
	if err := netns.Poll(10*time.Second, func() error {
		if err := d.running(); err != nil {
			return err
		}
		if !strings.Contains(d.proc.Log(), "holds no delegated prefix") {
			return fmt.Errorf("no debug line about systemd-networkd in ndproxy's log")
		}
		return nil
	}); err != nil {
		t.Fatalf("%v\nndproxy's log:\n%s\nnetworkd's log:\n%s", err, d.proc.Log(), nd.Log())
	}
	// The on-link prefix of the address networkd gave wlan0 is taken as
	// always; nothing is delegated.
	src := prefixSources(t, d)
	if src[lan.String()] != "wlan0 on-link" || len(src) != 2 {
		t.Errorf("prefix sources %v, want %v from wlan0 on-link and the configured one", src, lan)
	}
	if log := d.proc.Log(); strings.Contains(log, "level=WARN") || strings.Contains(log, "level=ERROR") {
		t.Errorf("warnings with a real networkd on the bus:\n%s", log)
	}
	d.stop()
}
