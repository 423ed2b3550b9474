// Package diagnose checks a host against what ndproxy needs — the pitfalls
// the seed setups ran into — and says, for each problem, how to fix it.
//
// The checks are pure functions of a configuration and a Snapshot of the
// host (Gather reads one from the live system), so that each broken state
// can be table-tested without a kernel.
package diagnose

import (
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/ndproxy/ndproxy/internal/config"
	"github.com/ndproxy/ndproxy/internal/control"
	"github.com/ndproxy/ndproxy/internal/kernel"
	"github.com/ndproxy/ndproxy/internal/plan"
	"github.com/ndproxy/ndproxy/internal/world"
)

// Snapshot is what the checks know of the host.
type Snapshot struct {
	Links  []Link
	Routes []Route
	// ProxyEntries are the kernel's proxy neighbour entries
	// (`ip -6 neigh show proxy`).
	ProxyEntries []ProxyEntry
	// Sysctls maps paths under /proc/sys ("net/ipv6/conf/wlan0/accept_ra")
	// to values; a missing key is a file that does not exist.
	Sysctls map[string]string
	// Logical are OpenWrt's logical interfaces as netifd reports them; nil
	// elsewhere.
	Logical []world.Logical
	// Firewall holds one rule set per tool that could be read.
	Firewall []*Ruleset
	// FirewallErrors say which tools were there but could not be read.
	FirewallErrors []string
	// Daemon is the running ndproxy's status; nil when none answers on the
	// configuration's control socket.
	Daemon *control.Status
	// DaemonDenied is set when the control socket exists but this user may
	// not use it (it is root's, mode 0600).
	DaemonDenied bool
}

// Link is a network interface and its IPv6 addresses.
type Link struct {
	Index int
	Name  string
	Up    bool
	Addrs []Addr
}

// Addr is an IPv6 address of a link.
type Addr struct {
	Prefix netip.Prefix
	// Dynamic addresses have a lifetime: SLAAC or DHCPv6 gave them.
	Dynamic bool
}

// Route is an IPv6 route of the main table; multipath routes appear once
// per next hop.
type Route struct {
	Dst     netip.Prefix
	Dev     string
	Gateway netip.Addr
	Metric  int
	// Protocol is the name `ip route` prints: kernel, boot, static, ra,
	// dhcp, ndproxy, or the number.
	Protocol string
	// Type is unicast, unreachable, blackhole or prohibit.
	Type string
	// OnLink is set when the gateway was declared on-link (`onlink`).
	OnLink bool
}

// ProxyEntry is a kernel proxy neighbour entry.
type ProxyEntry struct {
	Addr netip.Addr
	Dev  string
}

// Severity says what a finding means for the exit code.
type Severity int

const (
	// OK is a check that passed (shown with -v).
	OK Severity = iota
	// Note is worth knowing but not wrong: a missing interface ndproxy
	// waits for, a policy choice.
	Note
	// Problem breaks ndproxy, or the network it proxies for.
	Problem
)

func (s Severity) String() string {
	switch s {
	case Problem:
		return "problem"
	case Note:
		return "note"
	}
	return "ok"
}

// Finding is the result of one check on one thing.
type Finding struct {
	// Check names the check: interface, accept_ra, proxy_ndp,
	// proxy_delay, kernel_proxy, route, gateway, firewall, daemon.
	Check    string
	Severity Severity
	// Text says what is wrong (or fine) in plain words.
	Text string
	// Fix says what to do, with the exact commands; empty for OK.
	Fix string
}

// Check runs every check of the host s against cfg, the valid
// configuration read from path.
func Check(path string, cfg *config.Config, s *Snapshot) []Finding {
	c := newChecker(path, cfg, s)
	c.daemon()
	c.interfaces()
	for _, up := range c.upstreams {
		c.acceptRA(up)
		c.kernelProxy(up)
	}
	c.defaultRoutes()
	for _, p := range cfg.Proxies {
		c.routes(p)
	}
	c.firewall()
	return c.out
}

// Write prints findings one line each, problems and notes followed by their
// fix, OK lines only when verbose. It returns the number of problems.
func Write(w io.Writer, fs []Finding, verbose bool) int {
	problems := 0
	for _, f := range fs {
		if f.Severity == Problem {
			problems++
		}
		if f.Severity == OK && !verbose {
			continue
		}
		fmt.Fprintf(w, "%s: %s\n", f.Severity, f.Text)
		if f.Fix != "" && f.Severity != OK {
			fmt.Fprintf(w, "fix: %s\n", f.Fix)
		}
	}
	return problems
}

// checker holds what the checks share.
type checker struct {
	path string
	cfg  *config.Config
	s    *Snapshot
	// plan is what the daemon would do on this host now: the prefixes in
	// force, the links it resolves, what each proxy waits for.
	plan      *plan.Desired
	engines   map[string]*plan.Engine
	upstreams []string // resolved upstream devices, once each
	out       []Finding
}

func newChecker(path string, cfg *config.Config, s *Snapshot) *checker {
	c := &checker{path: path, cfg: cfg, s: s, engines: map[string]*plan.Engine{}}
	c.plan = plan.Compute(cfg, s.world(), nil)
	for i := range c.plan.Engines {
		e := &c.plan.Engines[i]
		c.engines[e.Proxy.Name] = e
	}
	seen := map[string]bool{}
	for _, p := range cfg.Proxies {
		up := c.device(p.Upstream)
		if _, ok := c.link(up); ok && !seen[up] {
			seen[up] = true
			c.upstreams = append(c.upstreams, up)
		}
	}
	return c
}

func (c *checker) add(check string, sev Severity, fix string, format string, args ...any) {
	c.out = append(c.out, Finding{Check: check, Severity: sev, Text: fmt.Sprintf(format, args...), Fix: fix})
}

// world is the snapshot as the planner sees it.
func (s *Snapshot) world() *world.World {
	w := &world.World{Sysctls: map[string]string{}, Logical: s.Logical}
	for _, l := range s.Links {
		w.Links = append(w.Links, world.Link{Index: l.Index, Name: l.Name, Up: l.Up})
		for _, a := range l.Addrs {
			w.Addrs = append(w.Addrs, world.Addr{LinkIndex: l.Index, Prefix: a.Prefix})
		}
	}
	for k, v := range s.Sysctls {
		w.Sysctls[k] = v
	}
	return w
}

// device maps a configured interface name to its device: an OpenWrt logical
// interface to its L3 device, any other name to itself.
func (c *checker) device(name string) string {
	for _, l := range c.s.Logical {
		if l.Name == name && l.Device != "" {
			return l.Device
		}
	}
	return name
}

func (c *checker) link(dev string) (Link, bool) {
	for _, l := range c.s.Links {
		if l.Name == dev {
			return l, true
		}
	}
	return Link{}, false
}

func (c *checker) sysctl(key string) string { return c.s.Sysctls[key] }

// conf is the value of net.ipv6.conf.<dev>.<key>.
func (c *checker) conf(dev, key string) string { return c.sysctl(kernel.IPv6Conf(dev, key)) }

// sysctlName writes a sysctl key the way sysctl(8) takes it: with dots,
// unless an interface name holds a dot (eth0.2), which only the slash form
// can say.
func sysctlName(key string) string {
	parts := strings.Split(key, "/")
	for _, p := range parts {
		if strings.Contains(p, ".") {
			return key
		}
	}
	return strings.Join(parts, ".")
}

// setSysctl is the fix that sets key to value now and after a reboot.
func setSysctl(key, value string) string {
	name := sysctlName(key)
	return fmt.Sprintf("sysctl -w %s=%s, and to keep it after a reboot: echo '%s = %s' >>/etc/sysctl.d/90-ndproxy.conf",
		name, value, name, value)
}

// prefixes are the prefixes proxy p answers for now: those in force (with
// prefix_from resolved) when it can run, else the configured ones.
func (c *checker) prefixes(p config.Proxy) []netip.Prefix {
	if e := c.engines[p.Name]; e != nil {
		return e.Prefixes
	}
	return p.Prefixes
}

func (c *checker) daemon() {
	d := c.s.Daemon
	if c.s.DaemonDenied {
		c.add("daemon", Note, "run ndproxy check as root",
			"cannot ask the ndproxy on %s what it does (permission denied): what follows is this host as it is now", c.cfg.Global.Socket)
		return
	}
	if d == nil {
		c.add("daemon", Note, "",
			"ndproxy is not running (nothing answers on %s): what follows is this host without it, and ndproxy changes forwarding and accept_ra while it runs",
			c.cfg.Global.Socket)
		return
	}
	c.add("daemon", OK, "", "ndproxy is running with %s", d.Config)
	if d.Config != c.path {
		c.add("daemon", Note, "", "the ndproxy running on %s reads %s, not %s: what it does follows that file",
			c.cfg.Global.Socket, d.Config, c.path)
	}
	for _, w := range d.Warnings {
		c.add("daemon", Problem, "see the daemon's log (journalctl -u ndproxy, or logread -e ndproxy on OpenWrt)",
			"the running ndproxy could not apply part of its plan: %s", w)
	}
}

func (c *checker) interfaces() {
	for _, p := range c.cfg.Proxies {
		for _, name := range append([]string{p.Upstream}, p.Downstream...) {
			dev := c.device(name)
			if _, ok := c.link(dev); ok && c.conf(dev, "disable_ipv6") == "1" {
				c.add("interface", Problem, setSysctl(kernel.IPv6Conf(dev, "disable_ipv6"), "0"),
					"IPv6 is disabled on %s (net.ipv6.conf.%s.disable_ipv6=1): it has no IPv6 address, not even a link-local one, so proxy %s cannot use it",
					dev, dev, p.Name)
			}
		}
		if why, waiting := c.plan.Waiting[p.Name]; waiting {
			c.add("interface", Note, "",
				"proxy %s cannot run now: %s; ndproxy waits for that, and the checks that need it are skipped", p.Name, why)
			continue
		}
		e := c.engines[p.Name]
		var down []string
		for _, l := range e.Downstreams {
			down = append(down, l.Name)
		}
		c.add("interface", OK, "", "proxy %s: upstream %s is up, downstream %s, prefixes %s",
			p.Name, e.Upstream.Name, orNone(down), joinPrefixes(e.Prefixes))
	}
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "(none)"
	}
	return strings.Join(s, " ")
}

func joinPrefixes(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, " ")
}
