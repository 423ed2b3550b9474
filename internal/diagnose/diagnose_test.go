package diagnose

import (
	"bytes"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/ndproxy/ndproxy/internal/config"
	"github.com/ndproxy/ndproxy/internal/control"
)

const islandConfig = `
config proxy 'island'
	option upstream 'wlan0'
	list downstream 'eth0'
	list prefix '2001:db8:abc:123:40::/76'
`

// guestsConfig is seed 002's server: a whole /64 routed to br0.
const guestsConfig = `
config proxy 'guests'
	option upstream 'eth0'
	list downstream 'br0'
	list prefix '2001:db8:3:5::/64'
	option verify 'auto'
	option route 'prefix'
`

func mustConfig(t *testing.T, text string) *config.Config {
	t.Helper()
	cfg, err := config.Parse("ndproxy", []byte(text))
	if err != nil {
		t.Fatalf("bad test config: %v", err)
	}
	return cfg
}

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func ip(s string) netip.Addr    { return netip.MustParseAddr(s) }

// islandHost is seed 000's gateway as it boots: SLAAC and the RA's routes on
// wlan0, the island's ULA on eth0, not forwarding yet.
func islandHost() *Snapshot {
	return &Snapshot{
		Links: []Link{
			{Index: 1, Name: "lo", Up: true, Addrs: []Addr{{Prefix: pfx("::1/128")}}},
			{Index: 2, Name: "wlan0", Up: true, Addrs: []Addr{
				{Prefix: pfx("fe80::31/64")},
				{Prefix: pfx("2001:db8:abc:123::31/64"), Dynamic: true},
			}},
			{Index: 3, Name: "eth0", Up: true, Addrs: []Addr{
				{Prefix: pfx("fe80::1/64")},
				{Prefix: pfx("fd2f::1/64")},
			}},
		},
		Routes: []Route{
			{Dst: pfx("2001:db8:abc:123::/64"), Dev: "wlan0", Metric: 303, Protocol: "ra", Type: "unicast"},
			{Dst: pfx("fd2f::/64"), Dev: "eth0", Metric: 256, Protocol: "kernel", Type: "unicast"},
			{Dst: pfx("fe80::/64"), Dev: "wlan0", Metric: 256, Protocol: "kernel", Type: "unicast"},
			{Dst: pfx("fe80::/64"), Dev: "eth0", Metric: 256, Protocol: "kernel", Type: "unicast"},
			{Dst: pfx("::/0"), Dev: "wlan0", Gateway: ip("fe80::1"), Metric: 303, Protocol: "ra", Type: "unicast"},
		},
		Sysctls: map[string]string{
			"net/ipv6/conf/all/forwarding":     "0",
			"net/ipv6/conf/all/accept_ra":      "1",
			"net/ipv6/conf/all/proxy_ndp":      "0",
			"net/ipv6/conf/wlan0/forwarding":   "0",
			"net/ipv6/conf/wlan0/accept_ra":    "1",
			"net/ipv6/conf/wlan0/proxy_ndp":    "0",
			"net/ipv6/conf/wlan0/disable_ipv6": "0",
			"net/ipv6/conf/eth0/forwarding":    "0",
			"net/ipv6/conf/eth0/accept_ra":     "1",
			"net/ipv6/conf/eth0/disable_ipv6":  "0",
			"net/ipv6/neigh/wlan0/proxy_delay": "80",
		},
	}
}

// serverHost is seed 002's dom0 as the seed leaves it: the allocation on
// eth0 and br0, the gateway in another /64 made on-link by a /128 route.
func serverHost() *Snapshot {
	return &Snapshot{
		Links: []Link{
			{Index: 2, Name: "eth0", Up: true, Addrs: []Addr{{Prefix: pfx("fe80::1/64")}, {Prefix: pfx("2001:db8:3:5::1/64")}}},
			{Index: 3, Name: "br0", Up: true, Addrs: []Addr{{Prefix: pfx("fe80::2/64")}, {Prefix: pfx("2001:db8:3:5::1/64")}}},
		},
		Routes: []Route{
			{Dst: pfx("2001:db8:3:4::1/128"), Dev: "eth0", Metric: 1024, Protocol: "boot", Type: "unicast"},
			{Dst: pfx("2001:db8:3:5::/64"), Dev: "eth0", Metric: 256, Protocol: "kernel", Type: "unicast"},
			{Dst: pfx("2001:db8:3:5::/64"), Dev: "br0", Metric: 256, Protocol: "kernel", Type: "unicast"},
			{Dst: pfx("::/0"), Dev: "eth0", Gateway: ip("2001:db8:3:4::1"), Metric: 1024, Protocol: "boot", Type: "unicast"},
		},
		Sysctls: map[string]string{
			"net/ipv6/conf/all/forwarding":    "0",
			"net/ipv6/conf/eth0/forwarding":   "0",
			"net/ipv6/conf/eth0/accept_ra":    "1",
			"net/ipv6/conf/br0/forwarding":    "0",
			"net/ipv6/neigh/eth0/proxy_delay": "80",
		},
	}
}

// of returns the findings of check, in order.
func of(fs []Finding, check string) []Finding {
	var out []Finding
	for _, f := range fs {
		if f.Check == check {
			out = append(out, f)
		}
	}
	return out
}

func dump(fs []Finding) string {
	var b bytes.Buffer
	Write(&b, fs, true)
	return b.String()
}

// expect checks that check produced exactly one finding of sev whose text
// and fix hold every given piece.
func expect(t *testing.T, fs []Finding, check string, sev Severity, text, fix []string) {
	t.Helper()
	got := of(fs, check)
	if len(got) != 1 {
		t.Fatalf("want one %s finding, got %d:\n%s", check, len(got), dump(fs))
	}
	f := got[0]
	if f.Severity != sev {
		t.Errorf("%s: severity %v, want %v:\n%s", check, f.Severity, sev, dump(fs))
	}
	for _, s := range text {
		if !strings.Contains(f.Text, s) {
			t.Errorf("%s: text does not say %q:\n%s", check, s, f.Text)
		}
	}
	for _, s := range fix {
		if !strings.Contains(f.Fix, s) {
			t.Errorf("%s: fix does not say %q:\n%s", check, s, f.Fix)
		}
	}
}

func problems(fs []Finding) []Finding {
	var out []Finding
	for _, f := range fs {
		if f.Severity == Problem {
			out = append(out, f)
		}
	}
	return out
}

func TestHealthyHosts(t *testing.T) {
	for _, tc := range []struct {
		name, config string
		host         *Snapshot
	}{
		{"island", islandConfig, islandHost()},
		{"server", guestsConfig, serverHost()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := Check("/etc/config/ndproxy", mustConfig(t, tc.config), tc.host)
			if p := problems(fs); len(p) > 0 {
				t.Errorf("problems on a healthy host:\n%s", dump(fs))
			}
			for _, check := range []string{"daemon", "interface", "accept_ra", "proxy_ndp", "route", "gateway"} {
				if len(of(fs, check)) == 0 {
					t.Errorf("no %s finding:\n%s", check, dump(fs))
				}
			}
		})
	}
}

func TestAcceptRA(t *testing.T) {
	fix := []string{"sysctl -w net.ipv6.conf.wlan0.accept_ra=2", "echo 'net.ipv6.conf.wlan0.accept_ra = 2' >>/etc/sysctl.d/"}
	for _, tc := range []struct {
		name   string
		change func(s *Snapshot)
		sev    Severity
		text   []string
		fix    []string
	}{
		{"not forwarding", func(s *Snapshot) {}, OK, []string{"ndproxy sets accept_ra=2 before it turns forwarding on"}, nil},
		{"accept_ra 2", func(s *Snapshot) {
			s.Sysctls["net/ipv6/conf/wlan0/forwarding"] = "1"
			s.Sysctls["net/ipv6/conf/wlan0/accept_ra"] = "2"
		}, OK, []string{"accept_ra=2"}, nil},
		{"forwarding, accept_ra 1", func(s *Snapshot) {
			s.Sysctls["net/ipv6/conf/wlan0/forwarding"] = "1"
		}, Problem, []string{"wlan0 forwards IPv6 and has accept_ra=1", "ignores the router advertisements", "loses its default route", "forwarding is on without it"}, fix},
		{"route already lost", func(s *Snapshot) {
			s.Sysctls["net/ipv6/conf/wlan0/forwarding"] = "1"
			s.Routes = s.Routes[:len(s.Routes)-1]
			s.Links[1].Addrs = s.Links[1].Addrs[:1]
		}, Problem, []string{"it has no default route now"}, fix},
		{"all.accept_ra instead", func(s *Snapshot) {
			s.Sysctls["net/ipv6/conf/wlan0/forwarding"] = "1"
			s.Sysctls["net/ipv6/conf/all/accept_ra"] = "2"
		}, Problem, []string{"net.ipv6.conf.all.accept_ra=2 does not help", "only the interface's own value"}, fix},
		{"something fights ndproxy", func(s *Snapshot) {
			s.Sysctls["net/ipv6/conf/wlan0/forwarding"] = "1"
			s.Daemon = &control.Status{Config: "/etc/config/ndproxy"}
		}, Problem, []string{"something set it back"}, fix},
		{"static upstream", func(s *Snapshot) {
			s.Sysctls["net/ipv6/conf/wlan0/forwarding"] = "1"
			s.Links[1].Addrs[1].Dynamic = false
			s.Routes = []Route{
				{Dst: pfx("2001:db8:abc:123::/64"), Dev: "wlan0", Metric: 256, Protocol: "kernel", Type: "unicast"},
				{Dst: pfx("::/0"), Dev: "wlan0", Gateway: ip("2001:db8:abc:123::1"), Metric: 1024, Protocol: "boot", Type: "unicast"},
			}
		}, OK, []string{"nothing on it comes from them"}, nil},
		{"accept_ra 0", func(s *Snapshot) {
			s.Sysctls["net/ipv6/conf/wlan0/accept_ra"] = "0"
		}, OK, []string{"accept_ra=0"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := islandHost()
			tc.change(s)
			fs := Check("/etc/config/ndproxy", mustConfig(t, islandConfig), s)
			expect(t, fs, "accept_ra", tc.sev, tc.text, tc.fix)
		})
	}
}

// TestSysctlNames: a dot in an interface name needs sysctl's slash form.
func TestSysctlNames(t *testing.T) {
	s := islandHost()
	s.Links[1].Name = "eth1.7"
	s.Routes[0].Dev, s.Routes[2].Dev, s.Routes[4].Dev = "eth1.7", "eth1.7", "eth1.7"
	s.Sysctls = map[string]string{
		"net/ipv6/conf/eth1.7/forwarding": "1",
		"net/ipv6/conf/eth1.7/accept_ra":  "1",
	}
	cfg := mustConfig(t, strings.Replace(islandConfig, "'wlan0'", "'eth1.7'", 1))
	fs := Check("/etc/config/ndproxy", cfg, s)
	expect(t, fs, "accept_ra", Problem, []string{"eth1.7 forwards"}, []string{"sysctl -w net/ipv6/conf/eth1.7/accept_ra=2"})
}

func TestKernelProxy(t *testing.T) {
	entry := func(s *Snapshot) {
		s.ProxyEntries = []ProxyEntry{{Addr: ip("2001:db8:abc:123:99::1"), Dev: "wlan0"}}
	}
	for _, tc := range []struct {
		name   string
		change func(s *Snapshot)
		check  string
		sev    Severity
		text   []string
		fix    []string
	}{
		{"no entries", func(s *Snapshot) {}, "proxy_ndp", OK, []string{"no kernel proxy entries", "ndproxy answers from userspace"}, nil},
		{"no entries, no delay check", func(s *Snapshot) {}, "proxy_delay", OK, nil, nil},
		{"proxy_ndp on wlan0 only", func(s *Snapshot) {
			entry(s)
			s.Sysctls["net/ipv6/conf/wlan0/proxy_ndp"] = "1"
		}, "proxy_ndp", Problem,
			[]string{"kernel proxy entries", "2001:db8:abc:123:99::1", "someone else's or left over", "unicast", "net.ipv6.conf.all.proxy_ndp=1"},
			[]string{"sysctl -w net.ipv6.conf.all.proxy_ndp=1", "ip -6 neigh del proxy 2001:db8:abc:123:99::1 dev wlan0"}},
		{"proxy_delay at its default", func(s *Snapshot) {
			entry(s)
			s.Sysctls["net/ipv6/conf/all/proxy_ndp"] = "1"
		}, "proxy_delay", Problem,
			[]string{"kernel proxy entries", "proxy_delay (0.8 s, the default)"},
			[]string{"sysctl -w net.ipv6.neigh.wlan0.proxy_delay=0"}},
		{"proxy_delay 0", func(s *Snapshot) {
			entry(s)
			s.Sysctls["net/ipv6/conf/all/proxy_ndp"] = "1"
			s.Sysctls["net/ipv6/neigh/wlan0/proxy_delay"] = "0"
		}, "proxy_delay", OK, nil, nil},
		{"proxy_ndp off", func(s *Snapshot) { entry(s) }, "proxy_ndp", Note, []string{"answers for none of them"}, nil},
		{"inside ndproxy's prefix", func(s *Snapshot) {
			s.ProxyEntries = []ProxyEntry{{Addr: ip("2001:db8:abc:123:41::1"), Dev: "wlan0"}}
		}, "kernel_proxy", Note, []string{"answers for 2001:db8:abc:123:41::1 on wlan0 itself"}, []string{"ip -6 neigh del proxy 2001:db8:abc:123:41::1 dev wlan0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := islandHost()
			tc.change(s)
			fs := Check("/etc/config/ndproxy", mustConfig(t, islandConfig), s)
			if tc.name == "no entries, no delay check" {
				if got := of(fs, "proxy_delay"); len(got) > 0 {
					t.Errorf("proxy_delay judged without kernel proxy entries:\n%s", dump(fs))
				}
				return
			}
			expect(t, fs, tc.check, tc.sev, tc.text, tc.fix)
		})
	}
}

func TestRoutes(t *testing.T) {
	routeNone := strings.Replace(islandConfig, "list prefix '2001:db8:abc:123:40::/76'",
		"list prefix '2001:db8:abc:123::/64'\n\toption route 'none'", 1)
	for _, tc := range []struct {
		name, config string
		change       func(s *Snapshot)
		sev          Severity
		text, fix    []string
	}{
		{"host routes", islandConfig, func(s *Snapshot) {}, OK, []string{"with a /128"}, nil},
		{"shadowed by the upstream's on-link route", routeNone, func(s *Snapshot) {
			s.Routes = append(s.Routes, Route{Dst: pfx("2001:db8:abc:123::/64"), Dev: "eth0", Metric: 1024, Protocol: "boot", Type: "unicast"})
		}, Problem,
			[]string{"2001:db8:abc:123::/64 dev wlan0 proto ra metric 303 shadows 2001:db8:abc:123::/64 dev eth0 metric 1024", "its metric is lower", "go back out wlan0"},
			[]string{"option route 'host' in section island of /etc/config/ndproxy", "ip -6 route add 2001:db8:abc:123::/64 dev eth0 metric 302"}},
		{"no route", routeNone, func(s *Snapshot) {}, Problem,
			[]string{"nothing routes 2001:db8:abc:123::/64 elsewhere", "back out wlan0"},
			[]string{"ip -6 route add 2001:db8:abc:123::/64 dev eth0 metric 302"}},
		{"dropped", strings.Replace(routeNone, "'2001:db8:abc:123::/64'", "'2001:db8:abc:124::/64'", 1), func(s *Snapshot) {
			s.Routes = append(s.Routes, Route{Dst: pfx("2001:db8:abc:124::/64"), Dev: "lo", Metric: 1024, Type: "unreachable"})
		}, Problem, []string{"unreachable 2001:db8:abc:124::/64 dev lo metric 1024 drops it"}, []string{"ip -6 route add 2001:db8:abc:124::/64 dev eth0"}},
		{"routed downstream", routeNone, func(s *Snapshot) {
			s.Routes = append(s.Routes, Route{Dst: pfx("2001:db8:abc:123::/64"), Dev: "eth0", Metric: 100, Protocol: "static", Type: "unicast"})
		}, OK, []string{"is routed by 2001:db8:abc:123::/64 dev eth0 proto static metric 100"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := islandHost()
			tc.change(s)
			fs := Check("/etc/config/ndproxy", mustConfig(t, tc.config), s)
			expect(t, fs, "route", tc.sev, tc.text, tc.fix)
		})
	}

	t.Run("prefix route beaten", func(t *testing.T) {
		s := serverHost()
		s.Routes = append(s.Routes, Route{Dst: pfx("2001:db8:3:5::/64"), Dev: "eth0", Metric: 50, Protocol: "ra", Type: "unicast"})
		fs := Check("/etc/config/ndproxy", mustConfig(t, guestsConfig), s)
		expect(t, fs, "route", Problem,
			[]string{"2001:db8:3:5::/64 dev eth0 proto ra metric 50 is as good as or better than the one ndproxy installs (2001:db8:3:5::/64 dev br0 metric 64)"},
			[]string{"option route_metric '49' in section guests"})
	})
}

func TestGateway(t *testing.T) {
	for _, tc := range []struct {
		name   string
		config string
		change func(s *Snapshot)
		sev    Severity
		text   []string
		fix    []string
	}{
		{"on-link by a /128", guestsConfig, func(s *Snapshot) {}, OK, []string{"is on-link on eth0"}, nil},
		{"outside the /64, no route", guestsConfig, func(s *Snapshot) { s.Routes = s.Routes[1:] }, Problem,
			[]string{"via 2001:db8:3:4::1 on eth0", "outside every prefix of eth0", "Nexthop has invalid gateway"},
			[]string{"ip -6 route add 2001:db8:3:4::1 dev eth0"}},
		{"declared onlink", guestsConfig, func(s *Snapshot) {
			s.Routes = s.Routes[1:]
			s.Routes[2].OnLink = true
		}, OK, []string{"declares its gateway on-link"}, nil},
		{"link-local", islandConfig, nil, OK, []string{"link-local gateway"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := serverHost()
			if tc.change == nil {
				s = islandHost()
			} else {
				tc.change(s)
			}
			fs := Check("/etc/config/ndproxy", mustConfig(t, tc.config), s)
			expect(t, fs, "gateway", tc.sev, tc.text, tc.fix)
		})
	}

	t.Run("inside the proxied prefix", func(t *testing.T) {
		// The seed's own addresses taken literally: the gateway
		// 2001:db8:3:2::1 is inside the /64 of 2001:db8:3:2:1::/64.
		s := serverHost()
		s.Routes[3].Gateway = ip("2001:db8:3:5::1:1")
		fs := Check("/etc/config/ndproxy", mustConfig(t, guestsConfig), s)
		var found bool
		for _, f := range of(fs, "gateway") {
			found = found || (f.Severity == Problem && strings.Contains(f.Text, "the default gateway 2001:db8:3:5::1:1 is inside 2001:db8:3:5::/64"))
		}
		if !found {
			t.Errorf("no problem about the gateway inside the prefix:\n%s", dump(fs))
		}
	})

	t.Run("no default route", func(t *testing.T) {
		s := islandHost()
		s.Routes = s.Routes[:len(s.Routes)-1]
		fs := Check("/etc/config/ndproxy", mustConfig(t, islandConfig), s)
		expect(t, fs, "gateway", Note, []string{"no IPv6 default route"}, nil)
	})
}

func TestInterfaces(t *testing.T) {
	t.Run("missing upstream", func(t *testing.T) {
		s := islandHost()
		s.Links = append(s.Links[:1], s.Links[2:]...)
		fs := Check("/etc/config/ndproxy", mustConfig(t, islandConfig), s)
		expect(t, fs, "interface", Note, []string{"proxy island cannot run now: upstream wlan0 does not exist"}, nil)
		if p := problems(fs); len(p) > 0 {
			t.Errorf("a missing upstream is something ndproxy waits for, not a problem:\n%s", dump(fs))
		}
	})
	t.Run("IPv6 disabled", func(t *testing.T) {
		s := islandHost()
		s.Sysctls["net/ipv6/conf/eth0/disable_ipv6"] = "1"
		fs := Check("/etc/config/ndproxy", mustConfig(t, islandConfig), s)
		var found bool
		for _, f := range of(fs, "interface") {
			found = found || (f.Severity == Problem && strings.Contains(f.Text, "IPv6 is disabled on eth0") &&
				strings.Contains(f.Fix, "sysctl -w net.ipv6.conf.eth0.disable_ipv6=0"))
		}
		if !found {
			t.Errorf("no problem about disable_ipv6:\n%s", dump(fs))
		}
	})
	t.Run("daemon with another file", func(t *testing.T) {
		s := islandHost()
		s.Daemon = &control.Status{Config: "/etc/config/ndproxy"}
		fs := Check("/root/ndproxy-test", mustConfig(t, islandConfig), s)
		var found bool
		for _, f := range of(fs, "daemon") {
			found = found || (f.Severity == Note && strings.Contains(f.Text, "reads /etc/config/ndproxy, not /root/ndproxy-test"))
		}
		if !found {
			t.Errorf("no note that the daemon reads another file:\n%s", dump(fs))
		}
	})
	t.Run("daemon warnings", func(t *testing.T) {
		s := islandHost()
		s.Daemon = &control.Status{Config: "/etc/config/ndproxy", Warnings: []string{"sysctl net/ipv6/conf/all/forwarding=1: permission denied"}}
		fs := Check("/etc/config/ndproxy", mustConfig(t, islandConfig), s)
		var found bool
		for _, f := range of(fs, "daemon") {
			found = found || (f.Severity == Problem && strings.Contains(f.Text, "permission denied"))
		}
		if !found {
			t.Errorf("the daemon's warning is not a problem:\n%s", dump(fs))
		}
	})
}

func readRuleset(t *testing.T, name string) *Ruleset {
	t.Helper()
	data, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var rs *Ruleset
	if strings.HasSuffix(name, ".json") {
		rs, err = ParseNft(data)
	} else {
		rs, err = ParseIP6tablesSave(data)
	}
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func TestFirewallChecks(t *testing.T) {
	// A host whose forward policy drops everything but replies to eth1, and
	// whose output rejects solicitations on eth0 (ip6tables-docker.save).
	cfg := strings.Replace(islandConfig, "'eth0'", "'eth1'", 1)
	s := islandHost()
	s.Links[2].Name = "eth1"
	for i := range s.Routes {
		if s.Routes[i].Dev == "eth0" {
			s.Routes[i].Dev = "eth1"
		}
	}
	s.Firewall = []*Ruleset{readRuleset(t, "ip6tables-docker.save")}
	fs := Check("/etc/config/ndproxy", mustConfig(t, cfg), s)
	var nd, fwd, out *Finding
	found := of(fs, "firewall")
	for i := range found {
		f := &found[i]
		switch {
		case strings.Contains(f.Text, "neighbour discovery on eth1"):
			nd = f
		case strings.Contains(f.Text, "even replies"):
			fwd = f
		case strings.Contains(f.Text, "send out"):
			out = f
		}
	}
	if nd == nil || fwd == nil || out == nil {
		t.Fatalf("want problems with neighbour discovery on eth1, forwarded replies and outgoing traffic:\n%s", dump(fs))
	}
	for _, c := range []struct {
		f         *Finding
		text, fix []string
	}{
		{nd, []string{"outgoing Neighbor Solicitations (ip6tables -t filter OUTPUT", `--comment "no \"probes\" here"`, "ndproxy's probes"},
			[]string{"ip6tables -t filter -I OUTPUT -o eth1 -p ipv6-icmp --icmpv6-type 135 -j ACCEPT"}},
		{fwd, []string{"from wlan0 to the hosts of 2001:db8:abc:123:40::/76 on eth1", "policy drop"},
			[]string{"ip6tables -t filter -I FORWARD -i wlan0 -o eth1 -d 2001:db8:abc:123:40::/76 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"}},
		{out, []string{"cannot reach anything beyond"},
			[]string{"ip6tables -t filter -I FORWARD -i eth1 -o wlan0 -s 2001:db8:abc:123:40::/76 -j ACCEPT"}},
	} {
		if c.f.Severity != Problem {
			t.Errorf("not a problem: %s", c.f.Text)
		}
		for _, s := range c.text {
			if !strings.Contains(c.f.Text, s) {
				t.Errorf("text does not say %q:\n%s", s, c.f.Text)
			}
		}
		for _, s := range c.fix {
			if !strings.Contains(c.f.Fix, s) {
				t.Errorf("fix does not say %q:\n%s", s, c.f.Fix)
			}
		}
	}

	t.Run("nftables", func(t *testing.T) {
		// nft-inet.nft: input lets ND in on eth0 and br*, forward lets
		// replies from wlan0 to the /76 on eth0 through, and drops the rest.
		s := islandHost()
		s.Firewall = []*Ruleset{readRuleset(t, "nft-inet.json")}
		fs := Check("/etc/config/ndproxy", mustConfig(t, islandConfig), s)
		var sawOut, sawNew bool
		for _, f := range of(fs, "firewall") {
			switch {
			case strings.Contains(f.Text, "neighbour discovery on"):
				t.Errorf("neighbour discovery is let through on eth0, and wlan0's fate depends on a verdict map:\n%s", f.Text)
			case strings.Contains(f.Text, "even replies"):
				t.Errorf("replies are let through:\n%s", f.Text)
			case strings.Contains(f.Text, "send out"):
				sawOut = f.Severity == Problem &&
					strings.Contains(f.Fix, `nft insert rule inet filter forward iifname "eth0" oifname "wlan0" ip6 saddr 2001:db8:abc:123:40::/76 accept`)
			case strings.Contains(f.Text, "new connections"):
				sawNew = true
			}
		}
		if !sawOut {
			t.Errorf("no problem with the outgoing traffic of the hosts, with an nft fix:\n%s", dump(fs))
		}
		if sawNew {
			t.Errorf("new connections judged while outgoing traffic is already a problem:\n%s", dump(fs))
		}
	})

	t.Run("unreadable", func(t *testing.T) {
		s := islandHost()
		s.FirewallErrors = []string{"nft -j list ruleset: exit status 1"}
		fs := Check("/etc/config/ndproxy", mustConfig(t, islandConfig), s)
		expect(t, fs, "firewall", Note, []string{"could not read the packet filter", "incomplete"}, nil)
	})
}

func TestWrite(t *testing.T) {
	fs := []Finding{
		{Check: "a", Severity: OK, Text: "fine"},
		{Check: "b", Severity: Problem, Text: "broken", Fix: "mend it"},
		{Check: "c", Severity: Note, Text: "by the way"},
	}
	for _, tc := range []struct {
		verbose bool
		want    string
	}{
		{false, "problem: broken\nfix: mend it\nnote: by the way\n"},
		{true, "ok: fine\nproblem: broken\nfix: mend it\nnote: by the way\n"},
	} {
		var b bytes.Buffer
		if n := Write(&b, fs, tc.verbose); n != 1 {
			t.Errorf("Write returned %d problems, want 1", n)
		}
		if b.String() != tc.want {
			t.Errorf("verbose %v:\n%s\nwant:\n%s", tc.verbose, b.String(), tc.want)
		}
	}
}
