package netns

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Host is one network namespace of a lab.
type Host struct {
	lab *Lab
	// Name is the short name given to Lab.Host ("gw").
	Name string
	// NS is the namespace name (ndp<pid>-<n>-gw), for ip netns exec.
	NS string

	isSwitch bool // the namespace only holds a bridge: no state dump
}

func (h *Host) String() string { return h.Name }

// Lab is the lab the host belongs to.
func (h *Host) Lab() *Lab { return h.lab }

// Command returns an unstarted command that runs args inside the host.
// ip netns exec execs args[0] itself, so the command's process is the program,
// and signals sent to it reach the program.
func (h *Host) Command(args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", h.NS}, args...)...)
}

// Run runs a short command inside the host and returns its combined output,
// trimmed. The error names the host and includes the output.
func (h *Host) Run(args ...string) (string, error) {
	out, err := run("ip", append([]string{"netns", "exec", h.NS}, args...)...)
	if err != nil {
		return out, fmt.Errorf("on %s: %w: %s", h.Name, err, out)
	}
	return out, nil
}

// MustRun is Run that fails the test on error.
func (h *Host) MustRun(args ...string) string {
	h.lab.t.Helper()
	out, err := h.Run(args...)
	if err != nil {
		h.lab.t.Fatalf("netns: %v", err)
	}
	return out
}

// IP runs ip -n <ns> args: the same as Run("ip", args...) without a second exec.
func (h *Host) IP(args ...string) (string, error) {
	out, err := run("ip", append([]string{"-n", h.NS}, args...)...)
	if err != nil {
		return out, fmt.Errorf("on %s: %w: %s", h.Name, err, out)
	}
	return out, nil
}

// MustIP is IP that fails the test on error.
func (h *Host) MustIP(args ...string) string {
	h.lab.t.Helper()
	out, err := h.IP(args...)
	if err != nil {
		h.lab.t.Fatalf("netns: %v", err)
	}
	return out
}

// SetSysctl sets key=value pairs inside the host ("net.ipv6.conf.eth0.accept_ra=2").
func (h *Host) SetSysctl(kv ...string) {
	h.lab.t.Helper()
	h.MustRun(append([]string{"sysctl", "-q", "-w"}, kv...)...)
}

// Sysctl reads one sysctl inside the host.
func (h *Host) Sysctl(key string) (string, error) {
	return h.Run("sysctl", "-n", key)
}

// MustSysctl is Sysctl that fails the test on error.
func (h *Host) MustSysctl(key string) string {
	h.lab.t.Helper()
	v, err := h.Sysctl(key)
	if err != nil {
		h.lab.t.Fatalf("netns: %v", err)
	}
	return v
}

// SetLink sets a link of the host administratively up or down.
func (h *Host) SetLink(dev string, up bool) {
	h.lab.t.Helper()
	state := "down"
	if up {
		state = "up"
	}
	h.MustIP("link", "set", "dev", dev, state)
}

// AddAddr adds (or replaces) an address with its prefix length on dev; flags
// are passed to ip addr ("nodad", "noprefixroute").
func (h *Host) AddAddr(dev string, p netip.Prefix, flags ...string) {
	h.lab.t.Helper()
	h.MustIP(append([]string{"-6", "addr", "replace", p.String(), "dev", dev}, flags...)...)
}

// Addr is an IPv6 address of a link, as ip -j addr shows it.
type Addr struct {
	Prefix    netip.Prefix
	Scope     string // global, link, host
	Tentative bool   // or DAD failed: not usable
}

// Addrs lists the IPv6 addresses on dev.
func (h *Host) Addrs(dev string) ([]Addr, error) {
	out, err := h.IP("-j", "-6", "addr", "show", "dev", dev)
	if err != nil {
		return nil, err
	}
	var links []struct {
		AddrInfo []struct {
			Local     string `json:"local"`
			PrefixLen int    `json:"prefixlen"`
			Scope     string `json:"scope"`
			Tentative bool   `json:"tentative"`
			DADFailed bool   `json:"dadfailed"`
		} `json:"addr_info"`
	}
	if err := json.Unmarshal([]byte(out), &links); err != nil {
		return nil, fmt.Errorf("on %s: parse ip -j addr: %w", h.Name, err)
	}
	var addrs []Addr
	for _, l := range links {
		for _, a := range l.AddrInfo {
			ip, err := netip.ParseAddr(a.Local)
			if err != nil {
				return nil, fmt.Errorf("on %s: parse ip -j addr: %w", h.Name, err)
			}
			addrs = append(addrs, Addr{
				Prefix:    netip.PrefixFrom(ip, a.PrefixLen),
				Scope:     a.Scope,
				Tentative: a.Tentative || a.DADFailed,
			})
		}
	}
	return addrs, nil
}

// WaitAddr waits until dev has a usable (not tentative) global address inside
// within, or any global address when within is the zero Prefix, and returns
// it. Use it to wait for SLAAC.
func (h *Host) WaitAddr(dev string, within netip.Prefix, timeout time.Duration) (netip.Addr, error) {
	var found netip.Addr
	err := Poll(timeout, func() error {
		addrs, err := h.Addrs(dev)
		if err != nil {
			return err
		}
		for _, a := range addrs {
			if a.Scope != "global" || a.Tentative {
				continue
			}
			if within.IsValid() && !within.Contains(a.Prefix.Addr()) {
				continue
			}
			found = a.Prefix.Addr()
			return nil
		}
		return fmt.Errorf("on %s: no global address in %v on %s: %v", h.Name, within, dev, addrs)
	})
	return found, err
}

// LinkLocal returns dev's link-local address, zoned with dev.
func (h *Host) LinkLocal(dev string) netip.Addr {
	h.lab.t.Helper()
	addrs, err := h.Addrs(dev)
	if err != nil {
		h.lab.t.Fatalf("netns: %v", err)
	}
	for _, a := range addrs {
		if a.Prefix.Addr().IsLinkLocalUnicast() {
			return a.Prefix.Addr().WithZone(dev)
		}
	}
	h.lab.t.Fatalf("netns: %s has no link-local address on %s: %v", h.Name, dev, addrs)
	return netip.Addr{}
}

// MAC returns dev's hardware address.
func (h *Host) MAC(dev string) net.HardwareAddr {
	h.lab.t.Helper()
	out := h.MustIP("-j", "link", "show", "dev", dev)
	var links []struct {
		Address string `json:"address"`
	}
	if err := json.Unmarshal([]byte(out), &links); err != nil || len(links) != 1 {
		h.lab.t.Fatalf("netns: %s: parse ip -j link show %s: %v: %s", h.Name, dev, err, out)
	}
	mac, err := net.ParseMAC(links[0].Address)
	if err != nil {
		h.lab.t.Fatalf("netns: %s: %s: %v", h.Name, dev, err)
	}
	return mac
}

// FlushNeigh empties the host's IPv6 neighbour cache on dev, so that the next
// packet to any on-link address needs a fresh Neighbor Solicitation.
func (h *Host) FlushNeigh(dev string) {
	h.lab.t.Helper()
	h.MustIP("-6", "neigh", "flush", "dev", dev)
}

// state is what a failed test wants to see of a host.
func (h *Host) state() string {
	var b strings.Builder
	for _, args := range [][]string{
		{"-br", "link"},
		{"-6", "-br", "addr"},
		{"-6", "route", "show", "table", "all"},
		{"-6", "neigh"},
		{"-6", "neigh", "show", "proxy"},
	} {
		out, err := h.IP(args...)
		if err != nil {
			out = err.Error()
		}
		fmt.Fprintf(&b, "$ ip %s\n%s\n", strings.Join(args, " "), out)
	}
	return strings.TrimRight(b.String(), "\n")
}

// destroy kills whatever still runs inside the namespace (only lab processes
// can be there) and deletes it. It reports failures without stopping.
func (h *Host) destroy() {
	out, err := run("ip", "netns", "pids", h.NS)
	if err != nil {
		h.lab.t.Errorf("netns: cleanup of %s: %v: %s", h.NS, err, out)
	}
	for _, f := range strings.Fields(out) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	if out, err := run("ip", "netns", "del", h.NS); err != nil {
		h.lab.t.Errorf("netns: cleanup of %s: %v: %s", h.NS, err, out)
	}
}
