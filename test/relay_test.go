package test

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ndproxy/ndproxy/test/netns"
)

// S1-relay — the island of seed 000 with no static addresses at all:
//
//	isp (radvd: lan /64, RDNSS global + link-local, DNSSL, MTU) ── home ── laptop (SLAAC)
//	  lo: internet/128                                              │
//	                                                          wlan0 │ gw: SLAAC, ndproxy ra_relay
//	                                                          eth0  │ (MTU islandMTU)
//	                                                                │
//	                                                island switch ── pi41..: SLAAC from the relayed RA
type relayLab struct {
	lab          *netns.Lab
	lan          netip.Prefix
	internet     netip.Addr
	home, island *netns.Switch
	isp, laptop  *netns.Host
	gw           *netns.Host
	pis          []*netns.Host
	laptopAddr   netip.Addr
	radvd        *netns.Proc
}

// islandMTU is gw's MTU on the island, below the isp's 1500: the relayed RA
// must say so.
const islandMTU = 1400

// ispDNS is the isp's link-local DNS server in its RAs: useless on the
// island, so the relay drops it.
var ispDNS = netip.MustParseAddr("fe80::53")

func buildRelay(t *testing.T, pis int, routerLifetime time.Duration) *relayLab {
	t.Helper()
	lab := netns.New(t)
	// A /64 of the documentation prefix that differs per run.
	pid := uint16(os.Getpid())
	s := &relayLab{
		lab:      lab,
		lan:      netip.MustParsePrefix(fmt.Sprintf("2001:db8:%x:%x::/64", pid, pid^0x5a5a)),
		internet: netip.MustParseAddr(fmt.Sprintf("2001:db8:ffff:%x::1", pid)),
		home:     lab.Switch("home"),
		island:   lab.Switch("island"),
	}
	s.isp = lab.Router("isp")
	s.home.Attach(s.isp, "lan0")
	s.isp.AddAddr("lan0", host(s.lan, 1))
	s.isp.AddAddr("lo", netip.PrefixFrom(s.internet, 128))
	s.radvd = s.isp.Radvd("lan0", s.radvdBody(routerLifetime, s.lan))

	s.laptop = lab.Host("laptop")
	s.home.Attach(s.laptop, "eth0")

	s.gw = lab.Host("gw")
	s.home.Attach(s.gw, "wlan0")
	s.island.Attach(s.gw, "eth0")
	s.gw.MustIP("link", "set", "eth0", "mtu", fmt.Sprint(islandMTU))

	for i := 0; i < pis; i++ {
		h := lab.Host(fmt.Sprintf("pi%d", 41+i))
		s.island.Attach(h, "eth0")
		// Real hosts check their SLAAC addresses (DAD), and that probe is
		// how ndproxy first hears of them.
		h.SetSysctl("net.ipv6.conf.eth0.accept_dad=1")
		h.ServeTCP(echoPort)
		s.pis = append(s.pis, h)
	}

	var err error
	if s.laptopAddr, err = s.laptop.WaitAddr("eth0", s.lan, 10*time.Second); err != nil {
		t.Fatalf("laptop SLAAC: %v", err)
	}
	s.laptop.ServeTCP(echoPort)
	if _, err := s.gw.WaitAddr("wlan0", s.lan, 10*time.Second); err != nil {
		t.Fatalf("gw SLAAC on wlan0: %v", err)
	}
	return s
}

func (s *relayLab) radvdBody(routerLifetime time.Duration, prefix netip.Prefix) string {
	return fmt.Sprintf(`
	AdvDefaultLifetime %d;
	AdvLinkMTU 1500;
	AdvOtherConfigFlag on;
	prefix %v { AdvOnLink on; AdvAutonomous on; };
	RDNSS %v %v {};
	DNSSL home.arpa {};`, int(routerLifetime.Seconds()), prefix, host(s.lan, 0x53).Addr(), ispDNS)
}

// config is ndproxy's section for the island; with relay, no prefix: the
// upstream's on-link prefixes are proxied.
func (s *relayLab) config(relay bool, extra ...string) string {
	var b strings.Builder
	b.WriteString("config proxy 'island'\n\toption upstream 'wlan0'\n\tlist downstream 'eth0'\n")
	if relay {
		b.WriteString("\toption ra_relay '1'\n")
	} else {
		b.WriteString("\tlist prefix_from 'wlan0'\n")
	}
	for _, e := range extra {
		fmt.Fprintf(&b, "\t%s\n", e)
	}
	return b.String()
}

// slaac waits for each pi's address in the isp's /64.
func (s *relayLab) slaac(t *testing.T, timeout time.Duration) []netip.Addr {
	t.Helper()
	var addrs []netip.Addr
	for _, p := range s.pis {
		a, err := p.WaitAddr("eth0", s.lan, timeout)
		if err != nil {
			t.Fatalf("%s got no address in the isp's %v: %v", p.Name, s.lan, err)
		}
		addrs = append(addrs, a)
	}
	return addrs
}

// rdisc6 solicits on a pi's eth0 and returns what rdisc6 prints of the RAs
// that came within wait.
func rdisc6(t *testing.T, h *netns.Host, wait time.Duration, args ...string) string {
	t.Helper()
	out, _ := h.Run(append([]string{"rdisc6", "-n", "-r", "1", "-w", fmt.Sprint(wait.Milliseconds())}, append(args, "eth0")...)...)
	return out
}

// TestRelayRA: the RA the pis see is ndproxy's re-origination of radvd's,
// as rdisc6 on a pi shows it.
func TestRelayRA(t *testing.T) {
	t.Parallel()
	s := buildRelay(t, 1, 30*time.Second)
	d := newDaemon(t, s.gw, s.config(true))
	d.start()
	gwLL := s.gw.LinkLocal("eth0").WithZone("")

	var out string
	err := netns.Poll(10*time.Second, func() error {
		if err := d.running(); err != nil {
			return err
		}
		out = rdisc6(t, s.pis[0], time.Second, "-1")
		if !strings.Contains(out, "from "+gwLL.String()) {
			return fmt.Errorf("no RA from gw's %v:\n%s", gwLL, out)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("rdisc6 on %s:\n%s", s.pis[0].Name, out)
	flat := strings.Join(strings.Fields(out), " ")
	for _, want := range []string{
		"Neighbor discovery proxy : Yes",
		"Stateful other conf. : Yes",
		fmt.Sprintf("MTU : %d bytes (valid)", islandMTU),
		"Prefix : " + s.lan.String() + " On-link : No Autonomous address conf.: Yes",
		"Recursive DNS server : " + host(s.lan, 0x53).Addr().String(),
		"DNS search list : home.arpa",
		"from " + gwLL.String(),
	} {
		if !strings.Contains(flat, want) {
			t.Errorf("rdisc6 output lacks %q", want)
		}
	}
	if strings.Contains(out, ispDNS.String()) {
		t.Errorf("the isp's link-local DNS server %v crossed onto the island", ispDNS)
	}
	if mtu := s.pis[0].MustSysctl("net.ipv6.conf.eth0.mtu"); mtu != fmt.Sprint(islandMTU) {
		t.Errorf("%s took IPv6 MTU %s from the RA, want %d", s.pis[0].Name, mtu, islandMTU)
	}

	if out, err := s.gw.Run(d.bin, "status", "-s", d.sock); err != nil || !strings.Contains(out, "RA relay: relaying") || !strings.Contains(out, "to eth0: ") {
		t.Errorf("ndproxy status (%v) does not show the relay at work:\n%s", err, out)
	} else {
		t.Logf("ndproxy status:\n%s", out)
	}

	// A reload that changes the DNS servers: the next RA says so, and the
	// pi keeps its default route meanwhile.
	dns := host(s.lan, 0x5353).Addr()
	d.rewrite(s.config(true, fmt.Sprintf("list ra_dns '%v'", dns)))
	d.hup()
	err = netns.Poll(10*time.Second, func() error {
		out = rdisc6(t, s.pis[0], time.Second, "-1")
		if !strings.Contains(strings.Join(strings.Fields(out), " "), "Recursive DNS server : "+dns.String()) {
			return fmt.Errorf("the RA after a reload does not carry ra_dns %v:\n%s", dns, out)
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
	if out := s.pis[0].MustIP("-6", "route", "show", "default"); !strings.Contains(out, "via "+gwLL.String()) {
		t.Errorf("%s lost its default route via gw over a reload: %q", s.pis[0].Name, out)
	}

	// Without ndproxy nothing answers on the island.
	d.stop()
	time.Sleep(500 * time.Millisecond)
	if out := rdisc6(t, s.pis[0], time.Second, "-1"); strings.Contains(out, "from ") {
		t.Errorf("an RA on the island without ndproxy:\n%s", out)
	}
}

// TestRelayLoopGuard: a proxied RA upstream, or any RA on the island, stops
// relaying; ndproxy says so in its log and status.
func TestRelayLoopGuard(t *testing.T) {
	t.Parallel()
	s := buildRelay(t, 1, 30*time.Second)
	gwLL := s.gw.LinkLocal("eth0").WithZone("").String()
	fromGW := func() bool { return strings.Contains(rdisc6(t, s.pis[0], 1500*time.Millisecond, "-m"), "from "+gwLL) }

	t.Run("proxied RA upstream", func(t *testing.T) {
		d := newDaemon(t, s.gw, s.config(true, "option ra_holddown '1h'"))
		d.start()
		defer d.stop()
		if err := netns.Poll(10*time.Second, func() error {
			if !fromGW() {
				return fmt.Errorf("no relayed RA on the island yet")
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		// Another relay on the home LAN: its RA carries the P flag.
		if err := s.laptop.SendRA("eth0", true, netip.MustParsePrefix("2001:db8:dead::/64")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond)
		if fromGW() {
			t.Error("gw still answers on the island after a proxied RA upstream")
		}
		if log := d.proc.Log(); !strings.Contains(log, "loop guard") {
			t.Errorf("nothing about the loop in ndproxy's log:\n%s", log)
		}
		if out, _ := s.gw.Run(d.bin, "status", "--json", "-s", d.sock); !strings.Contains(out, `"held_down"`) {
			t.Errorf("status does not show the hold-down:\n%s", out)
		}
	})
	t.Run("RA on the island", func(t *testing.T) {
		s.radvd.Stop(5 * time.Second) // no more proxied RAs from the laptop either
		s.radvd = s.isp.Radvd("lan0", s.radvdBody(30*time.Second, s.lan))
		d := newDaemon(t, s.gw, s.config(true, "option ra_holddown '1h'"))
		d.start()
		defer d.stop()
		if err := netns.Poll(10*time.Second, func() error {
			if !fromGW() {
				return fmt.Errorf("no relayed RA on the island yet")
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		// A second router on the island.
		if err := s.pis[0].SendRA("eth0", false, netip.MustParsePrefix("2001:db8:beef::/64")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond)
		if fromGW() {
			t.Error("gw still answers on the island after an RA there")
		}
		if log := d.proc.Log(); !strings.Contains(log, "loop guard") || !strings.Contains(log, "interface=eth0") {
			t.Errorf("nothing about the loop on eth0 in ndproxy's log:\n%s", log)
		}
	})
}

// TestRelayUpstreamGone: when gw's uplink goes down the pis lose their
// default route at once, not when the router lifetime would have run out;
// likewise when ndproxy stops.
func TestRelayUpstreamGone(t *testing.T) {
	t.Parallel()
	s := buildRelay(t, 1, 600*time.Second)
	d := newDaemon(t, s.gw, s.config(true))
	d.start()
	p := s.pis[0]
	hasDefault := func() error {
		out := p.MustIP("-6", "route", "show", "default")
		if !strings.Contains(out, "proto ra") {
			return fmt.Errorf("%s has no RA default route: %q", p.Name, out)
		}
		return nil
	}
	if err := netns.Poll(10*time.Second, hasDefault); err != nil {
		t.Fatal(err)
	}
	s.gw.SetLink("wlan0", false)
	if err := netns.Poll(3*time.Second, func() error {
		if hasDefault() == nil {
			return fmt.Errorf("%s keeps its default route via gw after gw's uplink went down", p.Name)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
	s.gw.SetLink("wlan0", true)
	if err := netns.Poll(15*time.Second, hasDefault); err != nil {
		t.Fatalf("after the uplink came back: %v", err)
	}
	d.stop()
	if err := hasDefault(); err == nil {
		t.Errorf("%s keeps its default route via gw after ndproxy stopped", p.Name)
	}
}

// TestS1Relay is S1-relay end to end: pis with no static addresses
// autoconfigure in the isp's /64 through ndproxy; the laptop reaches them by
// ping and TCP, they reach the isp and the laptop, gw keeps its default
// route; also after ndproxy restarts.
func TestS1Relay(t *testing.T) {
	t.Parallel()
	s := buildRelay(t, 3, 6*time.Second)
	d := newDaemon(t, s.gw, s.config(true, "option valid_ttl '10s'"))
	d.start()
	started := time.Now()
	addrs := s.slaac(t, 15*time.Second)

	check := func(t *testing.T) {
		s.laptop.FlushNeigh("eth0")
		for i, p := range s.pis {
			reach(t, d, s.laptop, addrs[i], p.Name, 10*time.Second)
		}
		for _, p := range s.pis {
			if err := netns.Poll(5*time.Second, func() error { return p.Ping(s.internet) }); err != nil {
				t.Errorf("%s cannot reach the isp's internet address %v: %v", p.Name, s.internet, err)
			}
			reach(t, d, p, s.laptopAddr, "laptop", 5*time.Second)
		}
		// pi to pi, through gw (the relayed prefix is not on-link).
		if len(s.pis) > 1 {
			reach(t, d, s.pis[0], addrs[1], s.pis[1].Name, 5*time.Second)
		}
	}
	t.Run("learned before anyone asked", func(t *testing.T) {
		// Nobody upstream has asked for the pis yet: ndproxy knows them
		// from their DAD probes on the island.
		err := netns.Poll(5*time.Second, func() error {
			targets := statusTargets(t, d)
			for _, a := range addrs {
				if targets[a.String()] != "valid" {
					return fmt.Errorf("%v is not a verified target of ndproxy: %v", a, targets)
				}
			}
			return nil
		})
		if err != nil {
			t.Error(err)
		}
	})
	t.Run("reachable", check)
	t.Run("gw keeps its default route", func(t *testing.T) {
		sleepUntil(started.Add(2*netns.MaxRAInterval + 3*time.Second))
		out := s.gw.MustIP("-6", "route", "show", "default")
		if !strings.Contains(out, "dev wlan0") || !strings.Contains(out, "proto ra") {
			t.Errorf("gw has no RA default route on wlan0: %q", out)
		}
	})
	t.Run("restart", func(t *testing.T) {
		d.stop()
		d.start()
		addrs = s.slaac(t, 15*time.Second)
		check(t)
	})
	t.Run("a pi switched off is forgotten", func(t *testing.T) {
		off := len(s.pis) - 1
		s.pis[off].SetLink("eth0", false)
		// valid_ttl 10 s, then three probes a second apart.
		err := netns.Poll(20*time.Second, func() error {
			if st := statusTargets(t, d)[addrs[off].String()]; st == "valid" || st == "refreshing" {
				return fmt.Errorf("%s is still a target (%s) after it was switched off", s.pis[off].Name, st)
			}
			if out := s.gw.MustIP("-6", "route", "show", "proto", "78"); strings.Contains(out, addrs[off].String()+" ") {
				return fmt.Errorf("gw still routes %s: %s", addrs[off], out)
			}
			return nil
		})
		if err != nil {
			t.Error(err)
		}
		unreachable(t, s.laptop, addrs[off], s.pis[off].Name)
		reach(t, d, s.laptop, addrs[0], s.pis[0].Name, 5*time.Second)
	})
}

// TestS1RelayWithoutRelay is the control: the same section without ra_relay
// proxies the /64 but the pis never hear of it.
func TestS1RelayWithoutRelay(t *testing.T) {
	t.Parallel()
	s := buildRelay(t, 1, 6*time.Second)
	d := newDaemon(t, s.gw, s.config(false))
	d.start()
	if a, err := s.pis[0].WaitAddr("eth0", s.lan, 8*time.Second); err == nil {
		t.Errorf("%s got %v in the isp's /64 without ra_relay", s.pis[0].Name, a)
	}
	if out := s.pis[0].MustIP("-6", "route", "show", "default"); out != "" {
		t.Errorf("%s has a default route without ra_relay: %q", s.pis[0].Name, out)
	}
}

// statusTargets reads the targets of the running ndproxy and their states.
func statusTargets(t *testing.T, d *daemon) map[string]string {
	t.Helper()
	out, err := d.host.Run(d.bin, "status", "--json", "-s", d.sock)
	if err != nil {
		t.Fatalf("ndproxy status: %v\n%s", err, out)
	}
	var st struct {
		Proxies []struct {
			Targets []struct{ Address, State string }
		}
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("ndproxy status --json: %v\n%s", err, out)
	}
	m := map[string]string{}
	for _, p := range st.Proxies {
		for _, x := range p.Targets {
			m[x.Address] = x.State
		}
	}
	return m
}
