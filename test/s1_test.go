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

// S1 — Wi-Fi-to-Ethernet island (seed 000), static-address variant:
//
//	isp (radvd: lan /64) ── home switch ── laptop (SLAAC)
//	  lo: internet/128          │
//	                      wlan0 │ gw: SLAAC on wlan0, runs ndproxy
//	                      eth0  │ ula::1/64
//	                            │
//	                    island switch ── pi41..: sub-prefix addresses (static,
//	                                     noprefixroute), ula addresses, default
//	                                     via gw's link-local
type s1Params struct {
	lan      netip.Prefix // the ISP's on-link /64, autoconfigured by SLAAC
	sub      netip.Prefix // the island's share of lan, proxied by ndproxy
	piBits   int          // prefix length the pis write on their addresses
	pis      int          // pis that are on
	offPis   int          // more pis whose eth0 was never up
	ula      netip.Prefix // the island's own /64
	internet netip.Addr   // an address behind the isp, on its loopback
	// lateUplink leaves gw without wlan0; the test calls attachUplink.
	lateUplink bool
}

type s1 struct {
	s1Params
	lab          *netns.Lab
	home, island *netns.Switch
	isp, laptop  *netns.Host
	gw           *netns.Host
	pis, off     []pi
	laptopAddr   netip.Addr
}

type pi struct {
	*netns.Host
	addr netip.Addr   // in sub
	ula  netip.Prefix // in ula
}

// s1RouterLifetime is how long gw keeps the isp's default route after the
// last RA it accepted: short, so that a gw that ignores RAs loses it within
// two RA intervals.
const s1RouterLifetime = 6 * time.Second

func buildS1(t *testing.T, p s1Params) *s1 {
	t.Helper()
	lab := netns.New(t)
	s := &s1{s1Params: p, lab: lab, home: lab.Switch("home"), island: lab.Switch("island")}

	s.isp = lab.Router("isp")
	s.home.Attach(s.isp, "lan0")
	s.isp.AddAddr("lan0", host(p.lan, 1))
	s.isp.AddAddr("lo", netip.PrefixFrom(p.internet, 128))
	s.isp.Radvd("lan0", fmt.Sprintf(`
	AdvDefaultLifetime %d;
	prefix %v { AdvOnLink on; AdvAutonomous on; };
	RDNSS %v {};`, int(s1RouterLifetime.Seconds()), p.lan, host(p.lan, 1).Addr()))

	s.laptop = lab.Host("laptop")
	s.home.Attach(s.laptop, "eth0")

	s.gw = lab.Host("gw")
	s.island.Attach(s.gw, "eth0")
	s.gw.AddAddr("eth0", host(p.ula, 1))
	if !p.lateUplink {
		s.home.Attach(s.gw, "wlan0")
	}

	for i := 0; i < p.pis+p.offPis; i++ {
		h := lab.Host(fmt.Sprintf("pi%d", 41+i))
		s.island.Attach(h, "eth0")
		pi := pi{
			Host: h,
			addr: subnet(p.sub, p.piBits, uint64(i+1)).Addr().Next(),
			ula:  host(p.ula, uint64(0x41+i)),
		}
		if i < p.pis {
			s.powerOn(pi)
			h.ServeTCP(echoPort)
			s.pis = append(s.pis, pi)
		} else {
			// Configured, but switched off before its address ever was up.
			h.SetLink("eth0", false)
			h.AddAddr("eth0", netip.PrefixFrom(pi.addr, p.piBits), "noprefixroute")
			s.off = append(s.off, pi)
		}
	}

	var err error
	if s.laptopAddr, err = s.laptop.WaitAddr("eth0", p.lan, 10*time.Second); err != nil {
		t.Fatalf("laptop SLAAC: %v", err)
	}
	if p.sub.Contains(s.laptopAddr) {
		t.Fatalf("bad test: the laptop's SLAAC address %v is inside the proxied %v", s.laptopAddr, p.sub)
	}
	s.laptop.ServeTCP(echoPort)
	if !p.lateUplink {
		s.waitUplink(t)
	}
	return s
}

// powerOn brings a pi's link up and configures it as the pi does at boot.
func (s *s1) powerOn(p pi) {
	p.SetLink("eth0", true)
	p.AddAddr("eth0", netip.PrefixFrom(p.addr, s.piBits), "noprefixroute")
	p.AddAddr("eth0", p.ula)
	p.MustIP("-6", "route", "replace", "default", "via", s.gw.LinkLocal("eth0").WithZone("").String(), "dev", "eth0")
}

// attachUplink gives gw its wlan0 on the home LAN and waits for SLAAC.
func (s *s1) attachUplink(t *testing.T) {
	t.Helper()
	s.home.Attach(s.gw, "wlan0")
	s.waitUplink(t)
}

// waitUplink waits until gw has its SLAAC address and RA default route.
func (s *s1) waitUplink(t *testing.T) {
	t.Helper()
	if _, err := s.gw.WaitAddr("wlan0", s.lan, 10*time.Second); err != nil {
		t.Fatalf("gw SLAAC on wlan0: %v", err)
	}
	if err := netns.Poll(10*time.Second, s.gwDefaultRoute); err != nil {
		t.Fatal(err)
	}
}

// gwDefaultRoute checks that gw has the default route the isp's RAs give.
func (s *s1) gwDefaultRoute() error {
	out, err := s.gw.IP("-6", "route", "show", "default")
	if err != nil {
		return err
	}
	if !strings.Contains(out, "dev wlan0") || !strings.Contains(out, "proto ra") {
		return fmt.Errorf("gw has no RA default route on wlan0: %q", out)
	}
	return nil
}

// config is ndproxy's config for the island; extra lines go into the proxy
// section.
func (s *s1) config(extra ...string) string {
	return islandConfig(s.sub, "probe", extra...)
}

// islandConfig is a proxy section for gw proxying prefix with verify.
func islandConfig(prefix netip.Prefix, verify string, extra ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "config proxy 'island'\n\toption upstream 'wlan0'\n\tlist downstream 'eth0'\n\tlist prefix '%v'\n\toption verify '%s'\n", prefix, verify)
	for _, e := range extra {
		fmt.Fprintf(&b, "\t%s\n", e)
	}
	return b.String()
}

// laptopReachesPis checks laptop -> every pi, after a fresh neighbour
// discovery for each.
func (s *s1) laptopReachesPis(t *testing.T, d *daemon, timeout time.Duration) {
	t.Helper()
	s.laptop.FlushNeigh("eth0")
	for _, p := range s.pis {
		reach(t, d, s.laptop, p.addr, p.Name, timeout)
	}
}

// TestS1Island is S1 with a /76 for four pis: reachability both ways, gw's
// own default route, a Wi-Fi link flap, and a restart of ndproxy.
func TestS1Island(t *testing.T) {
	t.Parallel()
	s := buildS1(t, s1Params{
		lan:      netip.MustParsePrefix("2001:db8:abc:123::/64"),
		sub:      netip.MustParsePrefix("2001:db8:abc:123:40::/76"),
		piBits:   80,
		pis:      4,
		ula:      netip.MustParsePrefix("fd2f::/64"),
		internet: netip.MustParseAddr("2001:db8:ffff::1"),
	})
	d := newDaemon(t, s.gw, s.config("option valid_ttl '5s'"))
	sysctls := ipv6Sysctls(t, s.gw)
	d.start()
	started := time.Now()

	t.Run("laptop reaches pis", func(t *testing.T) {
		s.laptopReachesPis(t, d, 15*time.Second)
	})
	t.Run("pis reach isp and laptop", func(t *testing.T) {
		for _, p := range s.pis {
			if err := netns.Poll(5*time.Second, func() error { return p.Ping(s.internet) }); err != nil {
				t.Errorf("%s cannot reach the isp's internet address %v: %v", p.Name, s.internet, err)
			}
			reach(t, d, p.Host, s.laptopAddr, "laptop", 5*time.Second)
		}
	})
	t.Run("gw keeps its default route", func(t *testing.T) {
		// Forwarding makes Linux drop RAs unless accept_ra=2: after two RA
		// intervals past the start, a gw that lost them has lost its route.
		sleepUntil(started.Add(2*netns.MaxRAInterval + s1RouterLifetime/2))
		if got := s.gw.MustSysctl("net.ipv6.conf.all.forwarding"); got != "1" {
			t.Errorf("gw: net.ipv6.conf.all.forwarding = %s with ndproxy running, want 1", got)
		}
		if err := s.gwDefaultRoute(); err != nil {
			t.Error(err)
		}
		if err := s.gw.Ping(s.internet); err != nil {
			t.Errorf("gw cannot reach the isp's internet address: %v", err)
		}
		if err := s.pis[0].Ping(s.internet); err != nil {
			t.Errorf("%s cannot reach the isp's internet address: %v", s.pis[0].Name, err)
		}
	})
	t.Run("wlan0 down and up", func(t *testing.T) {
		s.gw.SetLink("wlan0", false)
		s.gw.SetLink("wlan0", true)
		s.waitUplink(t)
		s.laptopReachesPis(t, d, 10*time.Second)
	})
	t.Run("restart", func(t *testing.T) {
		d.stop()
		if out := s.gw.MustIP("-6", "route", "show", "table", "all", "proto", "78"); out != "" {
			t.Errorf("routes of ndproxy left after SIGTERM:\n%s", out)
		}
		if out := s.gw.MustIP("-6", "neigh", "show", "proxy"); out != "" {
			t.Errorf("proxy neighbour entries left after SIGTERM:\n%s", out)
		}
		if changed := changedSysctls(sysctls, ipv6Sysctls(t, s.gw)); len(changed) > 0 {
			t.Errorf("gw's sysctls not restored after SIGTERM:\n%s", strings.Join(changed, "\n"))
		}
		s.laptop.FlushNeigh("eth0")
		unreachable(t, s.laptop, s.pis[0].addr, s.pis[0].Name+" with ndproxy stopped")

		d.start()
		s.laptopReachesPis(t, d, 15*time.Second)
	})
}

// TestS1UpstreamLate starts ndproxy before gw has its Wi-Fi link (a /72 for
// three pis): it must wait for wlan0, then proxy and keep gw's default route.
func TestS1UpstreamLate(t *testing.T) {
	t.Parallel()
	s := buildS1(t, s1Params{
		lan:        netip.MustParsePrefix("2001:db8:5ca1:e::/64"),
		sub:        netip.MustParsePrefix("2001:db8:5ca1:e:a00::/72"),
		piBits:     88,
		pis:        3,
		ula:        netip.MustParsePrefix("fd5c:a1e::/64"),
		internet:   netip.MustParseAddr("2001:db8:ffff:5::1"),
		lateUplink: true,
	})
	d := newDaemon(t, s.gw, s.config("option valid_ttl '5s'"))
	d.start()
	time.Sleep(time.Second)
	if err := d.running(); err != nil {
		t.Fatalf("ndproxy must wait for a missing upstream: %v", err)
	}
	s.attachUplink(t)
	linked := time.Now()
	s.laptopReachesPis(t, d, 15*time.Second)
	for _, p := range s.pis {
		if err := netns.Poll(5*time.Second, func() error { return p.Ping(s.internet) }); err != nil {
			t.Errorf("%s cannot reach the isp's internet address %v: %v", p.Name, s.internet, err)
		}
	}
	sleepUntil(linked.Add(2*netns.MaxRAInterval + s1RouterLifetime/2))
	if err := s.gwDefaultRoute(); err != nil {
		t.Error(err)
	}
	if err := s.gw.Ping(s.internet); err != nil {
		t.Errorf("gw cannot reach the isp's internet address: %v", err)
	}
}

// TestS1SwitchedOff checks that ndproxy answers only for pis that are there
// (a /80 with two pis on and one that never was).
func TestS1SwitchedOff(t *testing.T) {
	t.Parallel()
	s := buildS1(t, s1Params{
		lan:      netip.MustParsePrefix("2001:db8:f00d:7::/64"),
		sub:      netip.MustParsePrefix("2001:db8:f00d:7:ab::/80"),
		piBits:   96,
		pis:      2,
		offPis:   1,
		ula:      netip.MustParsePrefix("fd42:7::/64"),
		internet: netip.MustParseAddr("2001:db8:ffff:7::1"),
	})
	const (
		validTTL     = 4 * time.Second
		invalidTTL   = time.Second
		probeTimeout = 300 * time.Millisecond
		probeRetries = 2
		// probeTime bounds one verification; slack covers scheduling.
		probeTime = probeTimeout * (probeRetries + 1)
		slack     = 2 * time.Second
	)
	d := newDaemon(t, s.gw, s.config(
		fmt.Sprintf("option valid_ttl '%v'", validTTL),
		fmt.Sprintf("option invalid_ttl '%v'", invalidTTL),
		fmt.Sprintf("option probe_timeout '%v'", probeTimeout),
		fmt.Sprintf("option probe_retries '%d'", probeRetries)))
	d.start()
	gwMAC := s.gw.MAC("wlan0").String()

	// answered asks the home LAN, as the isp would, who has p's address:
	// gw must answer with its own wlan0 address.
	answered := func(p pi) func() error {
		return func() error {
			if err := d.running(); err != nil {
				return err
			}
			mac, err := s.laptop.Resolve(p.addr, "eth0")
			if err == nil && mac.String() != gwMAC {
				return fmt.Errorf("%v answered by %s, want gw's wlan0 %s", p.addr, mac, gwMAC)
			}
			return err
		}
	}
	// silent fails if anyone answers for addr. One resolution sends three
	// solicitations a second apart: longer than a verification.
	silent := func(t *testing.T, addr netip.Addr, what string) {
		t.Helper()
		if mac, err := s.laptop.Resolve(addr, "eth0"); !errors.Is(err, netns.ErrNoAnswer) {
			t.Errorf("%s %v: answered by %v (%v), want no answer", what, addr, mac, err)
		}
	}

	if !reach(t, d, s.laptop, s.pis[0].addr, s.pis[0].Name, 15*time.Second) {
		t.FailNow()
	}
	if err := netns.Poll(5*time.Second, answered(s.pis[1])); err != nil {
		t.Fatalf("%s is not answered for: %v", s.pis[1].Name, err)
	}

	t.Run("never up", func(t *testing.T) {
		silent(t, s.off[0].addr, s.off[0].Name+" (switched off, never up)")
		silent(t, subnet(s.sub, s.piBits, 0xff).Addr().Next(), "an address in the prefix that no host has")
	})
	t.Run("switched off", func(t *testing.T) {
		p := s.pis[1]
		p.SetLink("eth0", false)
		off := time.Now()
		// A resolution that fails got no answer from its first solicitation
		// on: it must start within the bound.
		bound := validTTL + probeTime + slack
		for {
			start := time.Now()
			_, err := s.laptop.Resolve(p.addr, "eth0")
			if errors.Is(err, netns.ErrNoAnswer) {
				if late := start.Sub(off); late > bound {
					t.Errorf("%s switched off was answered for until %v later; want at most valid_ttl %v + probes %v + slack %v",
						p.Name, late.Round(time.Millisecond), validTTL, probeTime, slack)
				}
				t.Logf("%s switched off: unanswered after at most %v", p.Name, start.Sub(off).Round(time.Millisecond))
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if time.Since(off) > bound {
				t.Fatalf("%s switched off is still answered for %v later; want at most valid_ttl %v + probes %v + slack %v",
					p.Name, time.Since(off).Round(time.Millisecond), validTTL, probeTime, slack)
			}
		}
		silent(t, p.addr, p.Name+" (switched off)")
		unreachable(t, s.laptop, p.addr, p.Name+" (switched off)")
		if err := answered(s.pis[0])(); err != nil {
			t.Errorf("%s, still on, is no longer answered for: %v", s.pis[0].Name, err)
		}
	})
	t.Run("switched on again", func(t *testing.T) {
		p := s.pis[1]
		s.powerOn(p)
		on := time.Now()
		if err := netns.Poll(invalidTTL+probeTime+slack, answered(p)); err != nil {
			t.Fatalf("%s switched on again is not answered for: %v", p.Name, err)
		}
		t.Logf("%s switched on: answered after %v", p.Name, time.Since(on).Round(time.Millisecond))
		s.laptop.FlushNeigh("eth0")
		reach(t, d, s.laptop, p.addr, p.Name, 5*time.Second)
	})
}

// TestS1WithoutNdproxy proves the S1 checks can fail: with gw forwarding and
// routing to the island but nothing answering Neighbor Solicitations, the
// laptop cannot reach a pi; and with the kernel's own proxy entries, set by
// hand, every S1 check passes on the same lab.
func TestS1WithoutNdproxy(t *testing.T) {
	t.Parallel()
	s := buildS1(t, s1Params{
		lan:      netip.MustParsePrefix("2001:db8:beef:1::/64"),
		sub:      netip.MustParsePrefix("2001:db8:beef:1:8000::/66"),
		piBits:   70,
		pis:      2,
		ula:      netip.MustParsePrefix("fd00:beef::/64"),
		internet: netip.MustParseAddr("2001:db8:ffff:b::1"),
	})
	// Everything ndproxy would do but the proxying.
	s.gw.SetSysctl("net.ipv6.conf.wlan0.accept_ra=2", "net.ipv6.conf.all.forwarding=1")
	s.gw.MustIP("-6", "route", "replace", s.sub.String(), "dev", "eth0")

	t.Run("no proxy", func(t *testing.T) {
		for _, p := range s.pis {
			if err := s.gw.Ping(p.addr); err != nil {
				t.Errorf("gw cannot reach %s on the island: %v", p.Name, err)
			}
			if mac, err := s.laptop.Resolve(p.addr, "eth0"); !errors.Is(err, netns.ErrNoAnswer) {
				t.Errorf("%s answered for without a proxy by %v (%v)", p.Name, mac, err)
			}
			unreachable(t, s.laptop, p.addr, p.Name+" without a proxy")
		}
	})
	t.Run("kernel proxy", func(t *testing.T) {
		s.gw.SetSysctl("net.ipv6.conf.wlan0.proxy_ndp=1", "net.ipv6.neigh.wlan0.proxy_delay=0")
		for _, p := range s.pis {
			s.gw.MustIP("-6", "neigh", "add", "proxy", p.addr.String(), "dev", "wlan0")
		}
		s.laptopReachesPis(t, nil, 5*time.Second)
		for _, p := range s.pis {
			if err := p.Ping(s.internet); err != nil {
				t.Errorf("%s cannot reach the isp's internet address: %v", p.Name, err)
			}
			reach(t, nil, p.Host, s.laptopAddr, "laptop", 5*time.Second)
		}
		if err := s.gwDefaultRoute(); err != nil {
			t.Error(err)
		}
	})
}

// TestS1Reload: SIGHUP applies a new configuration without a restart, and a
// broken one is reported and leaves the running configuration in force.
func TestS1Reload(t *testing.T) {
	t.Parallel()
	s := buildS1(t, s1Params{
		lan:      netip.MustParsePrefix("2001:db8:4e1:0ad::/64"),
		sub:      netip.MustParsePrefix("2001:db8:4e1:ad:c00::/72"),
		piBits:   80,
		pis:      2,
		ula:      netip.MustParsePrefix("fd4e:1ad::/64"),
		internet: netip.MustParseAddr("2001:db8:ffff:4e1::1"),
	})
	pi41, pi42 := s.pis[0], s.pis[1]
	only41 := netip.PrefixFrom(pi41.addr, s.piBits).Masked()
	d := newDaemon(t, s.gw, islandConfig(only41, "probe"))
	d.start()

	reach(t, d, s.laptop, pi41.addr, pi41.Name, 15*time.Second)
	s.laptop.FlushNeigh("eth0")
	unreachable(t, s.laptop, pi42.addr, pi42.Name+" outside the configured prefix")

	t.Run("bad config keeps the running one", func(t *testing.T) {
		d.rewrite(islandConfig(s.sub, "prob"))
		d.hup()
		if err := netns.Poll(5*time.Second, func() error {
			if !strings.Contains(d.proc.Log(), "reload failed") || !strings.Contains(d.proc.Log(), "ndproxy.island.verify") {
				return fmt.Errorf("no reload failure naming ndproxy.island.verify in the log")
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if err := d.running(); err != nil {
			t.Fatal(err)
		}
		s.laptop.FlushNeigh("eth0")
		reach(t, d, s.laptop, pi41.addr, pi41.Name, 5*time.Second)
		unreachable(t, s.laptop, pi42.addr, pi42.Name+" after a rejected reload")
	})
	t.Run("good config takes effect", func(t *testing.T) {
		d.rewrite(islandConfig(s.sub, "probe"))
		d.hup()
		s.laptopReachesPis(t, d, 10*time.Second)
	})
}
