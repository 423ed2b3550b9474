package diagnose

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/ndproxy/ndproxy/internal/config"
	"github.com/ndproxy/ndproxy/internal/control"
	"github.com/ndproxy/ndproxy/internal/kernel"
	"github.com/ndproxy/ndproxy/internal/netifd"
	"github.com/ndproxy/ndproxy/internal/ubus"
	"github.com/ndproxy/ndproxy/internal/world"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// toolTimeout bounds each external command (nft, ip6tables-save).
const toolTimeout = 5 * time.Second

// Gather reads the live system: links, addresses and routes over netlink,
// sysctls from /proc/sys, the packet filter through nft and ip6tables-save
// when they are installed, netifd's interfaces where ubus runs, and the
// status of the ndproxy that cfg's control socket leads to.
func Gather(ctx context.Context, cfg *config.Config) (*Snapshot, error) {
	s := &Snapshot{Sysctls: map[string]string{}}
	if err := s.gatherNetlink(); err != nil {
		return nil, err
	}
	s.gatherSysctls(kernel.SysctlRoot)
	s.gatherFirewall(ctx)
	s.Logical = gatherNetifd(ctx)
	st, err := control.GetStatus(cfg.Global.Socket)
	switch {
	case err == nil:
		s.Daemon = &st
	case errors.Is(err, fs.ErrPermission):
		s.DaemonDenied = true
	}
	return s, nil
}

func (s *Snapshot) gatherNetlink() error {
	links, err := netlink.LinkList()
	if err != nil {
		return fmt.Errorf("list links: %w", err)
	}
	names := map[int]string{}
	for _, l := range links {
		a := l.Attrs()
		names[a.Index] = a.Name
		s.Links = append(s.Links, Link{Index: a.Index, Name: a.Name, Up: a.Flags&net.FlagUp != 0})
	}
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_V6)
	if err != nil {
		return fmt.Errorf("list addresses: %w", err)
	}
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok {
			continue
		}
		ones, _ := a.Mask.Size()
		for i := range s.Links {
			if s.Links[i].Index == a.LinkIndex {
				s.Links[i].Addrs = append(s.Links[i].Addrs, Addr{
					Prefix:  netip.PrefixFrom(ip, ones),
					Dynamic: a.Flags&unix.IFA_F_PERMANENT == 0,
				})
			}
		}
	}
	routes, err := netlink.RouteListFiltered(netlink.FAMILY_V6, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return fmt.Errorf("list routes: %w", err)
	}
	for _, r := range routes {
		dst := netip.PrefixFrom(netip.IPv6Unspecified(), 0)
		if r.Dst != nil {
			a, ok := netip.AddrFromSlice(r.Dst.IP)
			if !ok {
				continue
			}
			ones, _ := r.Dst.Mask.Size()
			dst = netip.PrefixFrom(a, ones)
		}
		base := Route{Dst: dst, Metric: r.Priority, Protocol: protocolName(int(r.Protocol)), Type: routeType(r.Type)}
		hops := []*netlink.NexthopInfo{{LinkIndex: r.LinkIndex, Gw: r.Gw, Flags: r.Flags}}
		if len(r.MultiPath) > 0 {
			hops = r.MultiPath
		}
		for _, h := range hops {
			rt := base
			rt.Dev = names[h.LinkIndex]
			if gw, ok := netip.AddrFromSlice(h.Gw); ok && h.Gw != nil {
				rt.Gateway = gw
			}
			rt.OnLink = h.Flags&unix.RTNH_F_ONLINK != 0 || r.Flags&unix.RTNH_F_ONLINK != 0
			s.Routes = append(s.Routes, rt)
		}
	}
	proxies, err := netlink.NeighProxyList(0, netlink.FAMILY_V6)
	if err != nil {
		return fmt.Errorf("list proxy neighbours: %w", err)
	}
	for _, n := range proxies {
		if ip, ok := netip.AddrFromSlice(n.IP); ok {
			s.ProxyEntries = append(s.ProxyEntries, ProxyEntry{Addr: ip, Dev: names[n.LinkIndex]})
		}
	}
	return nil
}

// protocolName names a route protocol as iproute2 does.
func protocolName(p int) string {
	switch p {
	case unix.RTPROT_KERNEL:
		return "kernel"
	case unix.RTPROT_BOOT:
		return "boot"
	case unix.RTPROT_STATIC:
		return "static"
	case unix.RTPROT_RA:
		return "ra"
	case unix.RTPROT_DHCP:
		return "dhcp"
	case kernel.RouteProtocol:
		return "ndproxy"
	}
	return fmt.Sprint(p)
}

func routeType(t int) string {
	switch t {
	case unix.RTN_UNICAST:
		return "unicast"
	case unix.RTN_UNREACHABLE:
		return "unreachable"
	case unix.RTN_BLACKHOLE:
		return "blackhole"
	case unix.RTN_PROHIBIT:
		return "prohibit"
	}
	return fmt.Sprint(t)
}

// gatherSysctls reads the IPv6 settings the checks use, for "all",
// "default" and every link.
func (s *Snapshot) gatherSysctls(root string) {
	read := func(key string) {
		if b, err := os.ReadFile(filepath.Join(root, key)); err == nil {
			s.Sysctls[key] = strings.TrimSpace(string(b))
		}
	}
	devs := []string{"all", "default"}
	for _, l := range s.Links {
		devs = append(devs, l.Name)
	}
	for _, d := range devs {
		for _, k := range []string{"forwarding", "accept_ra", "proxy_ndp", "disable_ipv6"} {
			read(kernel.IPv6Conf(d, k))
		}
		read(filepath.Join("net/ipv6/neigh", d, "proxy_delay"))
	}
}

// gatherFirewall reads ip6tables through its save commands and nftables as
// JSON. The legacy tables are invisible to nft, and for iptables-nft's own
// tables ip6tables-save knows matches that nft shows only as "xt"; it comes
// first, so that a fix for its tables is an ip6tables command.
func (s *Snapshot) gatherFirewall(ctx context.Context) {
	read := func(parse func([]byte) (*Ruleset, error), args ...string) error {
		if _, err := exec.LookPath(args[0]); err != nil {
			return nil
		}
		out, err := runTool(ctx, args...)
		if err == nil {
			var rs *Ruleset
			if rs, err = parse(out); err == nil {
				if len(rs.Chains) > 0 {
					s.Firewall = append(s.Firewall, rs)
				}
				return nil
			}
		}
		return fmt.Errorf("%s: %w", strings.Join(args, " "), err)
	}
	var errs []error
	saves := 0
	for _, cmd := range []string{"ip6tables-legacy-save", "ip6tables-nft-save"} {
		if _, err := exec.LookPath(cmd); err == nil {
			errs = append(errs, read(ParseIP6tablesSave, cmd))
			saves++
		}
	}
	if saves == 0 {
		errs = append(errs, read(ParseIP6tablesSave, "ip6tables-save"))
	}
	_, noNft := exec.LookPath("nft")
	nftErr := read(ParseNft, "nft", "-j", "list", "ruleset")
	for _, err := range append(errs, nftErr) {
		// ip6tables-nft-save refuses tables nft made ("incompatible"):
		// when nft itself could be read, it has them.
		if err != nil && (err == nftErr || noNft != nil || nftErr != nil) {
			s.FirewallErrors = append(s.FirewallErrors, err.Error())
		}
	}
}

func runTool(ctx context.Context, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, toolTimeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return nil, fmt.Errorf("%w: %s", err, msg)
		}
		return nil, err
	}
	return stdout.Bytes(), nil
}

// gatherNetifd asks netifd for OpenWrt's logical interfaces, so that names
// like wan6 resolve as the daemon resolves them. Elsewhere it returns nil.
func gatherNetifd(ctx context.Context) []world.Logical {
	present := false
	for _, p := range []string{ubus.DefaultSocket, ubus.LegacySocket} {
		if _, err := os.Stat(p); err == nil {
			present = true
		}
	}
	if !present {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, toolTimeout)
	defer cancel()
	c, err := ubus.Dial(ctx, "")
	if err != nil {
		return nil
	}
	defer c.Close()
	t, err := c.Call(ctx, "network.interface", "dump", nil)
	if err != nil {
		return nil
	}
	l, err := netifd.ParseDump(t)
	if err != nil {
		return nil
	}
	return l
}
