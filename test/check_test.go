package test

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ndproxy/ndproxy/test/netns"
)

// checkLab is a gateway as in the seeds, for `ndproxy check`:
//
//	isp (radvd: lan /64, default router) ── wlan0 gw eth0 ── pi
//
// gw takes SLAAC and its default route from the isp's RAs on wlan0, does not
// forward, and has the island's ULA on eth0: as healthy as a host gets
// before ndproxy runs on it.
type checkLab struct {
	lab     *netns.Lab
	isp, gw *netns.Host
	lan     netip.Prefix
	conf    string
	sock    string
}

// The island proxies a /76 of the isp's /64.
const checkIsland = `config proxy 'island'
	option upstream 'wlan0'
	list downstream 'eth0'
	list prefix '%v'
`

func newCheckLab(t *testing.T, lan netip.Prefix) *checkLab {
	t.Helper()
	lab := netns.New(t)
	c := &checkLab{lab: lab, lan: lan, isp: lab.Router("isp"), gw: lab.Host("gw")}
	pi := lab.Host("pi")
	lab.Link(c.isp, "lan0", c.gw, "wlan0")
	lab.Link(c.gw, "eth0", pi, "eth0")
	c.isp.AddAddr("lan0", host(lan, 1))
	c.isp.Radvd("lan0", fmt.Sprintf("prefix %v { AdvOnLink on; AdvAutonomous on; };", lan))
	c.gw.AddAddr("eth0", host(netip.MustParsePrefix("fd2f::/64"), 1))
	if _, err := c.gw.WaitAddr("wlan0", lan, 10*time.Second); err != nil {
		t.Fatalf("gw SLAAC: %v", err)
	}
	if err := netns.Poll(10*time.Second, func() error {
		out, err := c.gw.IP("-6", "route", "show", "default")
		if err == nil && !strings.Contains(out, "proto ra") {
			err = fmt.Errorf("no RA default route on gw: %q", out)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	c.conf = filepath.Join(lab.Dir(), "ndproxy")
	c.sock = "/run/ndproxy-" + lab.ID() + "-gw.sock"
	c.config(t, fmt.Sprintf(checkIsland, subnet(lan, 76, 4)))
	return c
}

// config writes the proxy sections to gw's configuration file.
func (c *checkLab) config(t *testing.T, sections string) {
	t.Helper()
	text := fmt.Sprintf("config global\n\toption socket '%s'\n\n%s", c.sock, sections)
	if err := os.WriteFile(c.conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// check runs `ndproxy check -v` on h and returns its output and exit code.
func (c *checkLab) check(t *testing.T, h *netns.Host) (string, int) {
	t.Helper()
	cmd := h.Command(ndproxyBin(t), "check", "-v", "-c", c.conf)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	code := 0
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatalf("ndproxy check: %v\n%s", err, out)
	}
	t.Logf("ndproxy check on %s (exit %d, %v):\n%s", h.Name, code, time.Since(start).Round(time.Millisecond), out)
	return string(out), code
}

// wantFinding fails t unless out has a line "<kind>: ..." holding every
// piece of text, followed by "fix: ..." holding every piece of fix.
func wantFinding(t *testing.T, out, kind string, text, fix []string) {
	t.Helper()
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		if !strings.HasPrefix(l, kind+": ") || !containsAll(l, text) {
			continue
		}
		if len(fix) == 0 {
			return
		}
		if i+1 < len(lines) && strings.HasPrefix(lines[i+1], "fix: ") && containsAll(lines[i+1], fix) {
			return
		}
		t.Errorf("the %s line\n  %s\nis not followed by a fix saying %q:\n  %s", kind, l, fix, lines[min(i+1, len(lines)-1)])
		return
	}
	t.Errorf("no %s line saying %q in:\n%s", kind, text, out)
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

// TestCheckHealthy: a host that is fine before ndproxy runs, and while it
// runs (forwarding on, accept_ra=2 set by ndproxy), is fine for check.
func TestCheckHealthy(t *testing.T) {
	t.Parallel()
	c := newCheckLab(t, netip.MustParsePrefix("2001:db8:c0:1::/64"))
	out, code := c.check(t, c.gw)
	if code != 0 {
		t.Errorf("exit %d on a healthy host, want 0", code)
	}
	for _, want := range []string{
		"ok: proxy island: upstream wlan0 is up, downstream eth0",
		"ok: wlan0 takes router advertisements while it does not forward",
		"ok: wlan0 has no kernel proxy entries",
		"ok: the default route default via fe80::",
		"no problems found",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in the output", want)
		}
	}

	p := c.gw.Start("ndproxy", ndproxyBin(t), "run", "-c", c.conf)
	if err := netns.Poll(10*time.Second, func() error {
		if p.Exited() {
			return fmt.Errorf("ndproxy exited: %v: %w", p.Wait(0), netns.ErrGiveUp)
		}
		if v := c.gw.MustSysctl("net.ipv6.conf.all.forwarding"); v != "1" {
			return fmt.Errorf("forwarding is %s", v)
		}
		_, err := os.Stat(c.sock)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	out, code = c.check(t, c.gw)
	if code != 0 {
		t.Errorf("exit %d with ndproxy running, want 0", code)
	}
	for _, want := range []string{"ok: ndproxy is running", "ok: wlan0 takes router advertisements also while forwarding (accept_ra=2)"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in the output", want)
		}
	}
	if err := p.Stop(5 * time.Second); err != nil {
		t.Errorf("ndproxy: %v", err)
	}
}

// TestCheckBroken builds each broken state of the seeds on a healthy gw and
// checks that `ndproxy check` names the problem and its fix, and exits 1.
func TestCheckBroken(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		break_ func(t *testing.T, c *checkLab)
		text   []string
		fix    []string
	}{
		{
			// Seed 004: forwarding on by hand, the RA default route lost.
			name:   "forwarding without accept_ra 2",
			break_: func(t *testing.T, c *checkLab) { c.gw.SetSysctl("net.ipv6.conf.all.forwarding=1") },
			text:   []string{"wlan0 forwards IPv6 and has accept_ra=1", "ignores the router advertisements", "loses its default route"},
			fix:    []string{"sysctl -w net.ipv6.conf.wlan0.accept_ra=2"},
		},
		{
			// Seed 004: the fix attempted on "all", which no interface reads.
			name: "all.accept_ra instead of the interface's",
			break_: func(t *testing.T, c *checkLab) {
				c.gw.SetSysctl("net.ipv6.conf.all.accept_ra=2", "net.ipv6.conf.all.forwarding=1")
			},
			text: []string{"wlan0 forwards IPv6 and has accept_ra=1", "net.ipv6.conf.all.accept_ra=2 does not help"},
			fix:  []string{"sysctl -w net.ipv6.conf.wlan0.accept_ra=2"},
		},
		{
			// A leftover kernel proxy entry, answered for multicast only.
			name: "proxy_ndp missing for unicast solicitations",
			break_: func(t *testing.T, c *checkLab) {
				c.gw.SetSysctl("net.ipv6.conf.wlan0.proxy_ndp=1", "net.ipv6.neigh.wlan0.proxy_delay=0")
				c.gw.MustIP("-6", "neigh", "add", "proxy", host(c.lan, 0x99).Addr().String(), "dev", "wlan0")
			},
			text: []string{"wlan0 has kernel proxy entries", "someone else's or left over", "not the unicast ones", "net.ipv6.conf.all.proxy_ndp=1"},
			fix:  []string{"sysctl -w net.ipv6.conf.all.proxy_ndp=1", "ip -6 neigh del proxy"},
		},
		{
			name: "proxy_delay left at its default",
			break_: func(t *testing.T, c *checkLab) {
				c.gw.SetSysctl("net.ipv6.conf.all.proxy_ndp=1")
				c.gw.MustIP("-6", "neigh", "add", "proxy", host(c.lan, 0x99).Addr().String(), "dev", "wlan0")
			},
			text: []string{"wlan0 has kernel proxy entries", "proxy_delay (0.8 s, the default)"},
			fix:  []string{"sysctl -w net.ipv6.neigh.wlan0.proxy_delay=0"},
		},
		{
			// Seed 000 with the whole /64 and a route by hand: the RA's
			// on-link route (metric 256) beats it (metric 1024).
			name: "the upstream's on-link route shadows the downstream route",
			break_: func(t *testing.T, c *checkLab) {
				c.config(t, fmt.Sprintf(checkIsland+"\toption route 'none'\n", c.lan))
				c.gw.MustIP("-6", "route", "add", c.lan.String(), "dev", "eth0", "metric", "1024")
			},
			text: []string{fmt.Sprintf("the route %v dev wlan0 proto kernel metric 256 shadows %v dev eth0 metric 1024", c0(), c0()), "go back out wlan0"},
			fix:  []string{"option route 'host' in section island", fmt.Sprintf("ip -6 route add %v dev eth0 metric 255", c0())},
		},
		{
			name: "no route for the proxied prefix",
			break_: func(t *testing.T, c *checkLab) {
				c.config(t, fmt.Sprintf(checkIsland+"\toption route 'none'\n", subnet(c.lan, 76, 4)))
			},
			text: []string{"nothing routes", "back out wlan0"},
			fix:  []string{fmt.Sprintf("ip -6 route add %v dev eth0", subnet(c0(), 76, 4))},
		},
		{
			// Seed 002: the gateway outside the /64, its on-link route gone.
			name: "the gateway outside the /64 without an on-link route",
			break_: func(t *testing.T, c *checkLab) {
				gw := netip.MustParseAddr("2001:db8:c0:ffff::1")
				c.gw.MustIP("-6", "route", "add", gw.String(), "dev", "wlan0")
				c.gw.MustIP("-6", "route", "replace", "default", "via", gw.String(), "dev", "wlan0", "metric", "1")
				c.gw.MustIP("-6", "route", "del", gw.String(), "dev", "wlan0")
			},
			text: []string{"the default route goes via 2001:db8:c0:ffff::1 on wlan0", "outside every prefix of wlan0", "Nexthop has invalid gateway"},
			fix:  []string{"ip -6 route add 2001:db8:c0:ffff::1 dev wlan0"},
		},
		{
			name: "nftables drops neighbour discovery",
			break_: func(t *testing.T, c *checkLab) {
				c.nft(t, `table inet fw {
					chain input { type filter hook input priority 0; policy drop;
						ct state established,related accept
						iif lo accept
						tcp dport 22 accept
					}
				}`)
			},
			text: []string{"the firewall drops neighbour discovery on eth0", "incoming Neighbor Advertisements (nft inet fw input, policy drop)", "ndproxy never hears the answers to its probes"},
			fix:  []string{`nft insert rule inet fw input iifname "eth0" icmpv6 type nd-neighbor-advert accept`},
		},
		{
			// Docker's FORWARD policy: the proxied hosts are answered for
			// and unreachable.
			name: "ip6tables drops what is forwarded to the proxied hosts",
			break_: func(t *testing.T, c *checkLab) {
				c.gw.MustRun("ip6tables", "-P", "FORWARD", "DROP")
			},
			text: []string{"the firewall drops what is forwarded from wlan0 to the hosts of", "even replies", "policy drop"},
			fix:  []string{"ip6tables -t filter -I FORWARD -i wlan0 -o eth0 -d", "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"},
		},
		{
			name:   "IPv6 disabled on the downstream",
			break_: func(t *testing.T, c *checkLab) { c.gw.SetSysctl("net.ipv6.conf.eth0.disable_ipv6=1") },
			text:   []string{"IPv6 is disabled on eth0"},
			fix:    []string{"sysctl -w net.ipv6.conf.eth0.disable_ipv6=0"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newCheckLab(t, c0())
			tc.break_(t, c)
			out, code := c.check(t, c.gw)
			if code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			wantFinding(t, out, "problem", tc.text, tc.fix)
		})
	}
}

// c0 is the upstream /64 of TestCheckBroken's labs: each is its own set of
// namespaces, so they may share it.
func c0() netip.Prefix { return netip.MustParsePrefix("2001:db8:c0:10::/64") }

// nft loads a ruleset into gw.
func (c *checkLab) nft(t *testing.T, ruleset string) {
	t.Helper()
	f := filepath.Join(c.lab.Dir(), "rules.nft")
	if err := os.WriteFile(f, []byte(ruleset), 0o644); err != nil {
		t.Fatal(err)
	}
	c.gw.MustRun("nft", "-f", f)
}

// TestCheckConfigErrors: a bad file is reported as before, with every
// problem named by section and option, and nothing of the host is read.
func TestCheckConfigErrors(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "ndproxy")
	if err := os.WriteFile(conf, []byte("config proxy 'island'\n\toption upstream 'wlan0'\n\toption verify 'prob'\n\tlist prefix '2001:db8::/64'\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(ndproxyBin(t), "check", "-c", conf).CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("exit %v, want 1\n%s", err, out)
	}
	if !strings.Contains(string(out), `ndproxy.island.verify: "prob" is not one of probe, auto, static`) {
		t.Errorf("the error does not name ndproxy.island.verify:\n%s", out)
	}
	if strings.Contains(string(out), "problem:") {
		t.Errorf("the host was diagnosed against an invalid file:\n%s", out)
	}
}
