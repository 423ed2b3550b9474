package kernel

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/ndproxy/ndproxy/internal/world"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// RouteProtocol tags every route ndproxy installs (rtm_protocol), so that a
// restart after a crash finds its own leftovers and never touches a route
// someone else made. 78 is unassigned in iproute2's rt_protos; the package
// ships /etc/iproute2/rt_protos.d/ndproxy.conf so `ip route` prints "ndproxy".
const RouteProtocol = 78

// Routes lists, adds and removes ndproxy's routes in the main table.
type Routes struct{}

// List returns the IPv6 routes carrying RouteProtocol.
func (Routes) List() ([]world.Route, error) {
	filter := &netlink.Route{Protocol: RouteProtocol, Table: unix.RT_TABLE_MAIN}
	rs, err := netlink.RouteListFiltered(netlink.FAMILY_V6, filter, netlink.RT_FILTER_PROTOCOL|netlink.RT_FILTER_TABLE)
	if err != nil {
		return nil, fmt.Errorf("list routes: %w", err)
	}
	out := make([]world.Route, 0, len(rs))
	for _, r := range rs {
		if r.Dst == nil {
			continue
		}
		dst, ok := prefixFromIPNet(r.Dst)
		if !ok {
			continue
		}
		out = append(out, world.Route{Dst: dst, LinkIndex: r.LinkIndex, Metric: r.Priority})
	}
	return out, nil
}

// Add installs r, replacing an identical route of ours.
func (Routes) Add(r world.Route) error {
	if err := netlink.RouteReplace(toNetlink(r)); err != nil {
		return fmt.Errorf("add route %s dev %d metric %d: %w", r.Dst, r.LinkIndex, r.Metric, err)
	}
	return nil
}

// Del removes r; a route that is already gone is not an error.
func (Routes) Del(r world.Route) error {
	err := netlink.RouteDel(toNetlink(r))
	if err != nil && !errors.Is(err, unix.ESRCH) && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("delete route %s dev %d metric %d: %w", r.Dst, r.LinkIndex, r.Metric, err)
	}
	return nil
}

func toNetlink(r world.Route) *netlink.Route {
	return &netlink.Route{
		Dst:       &net.IPNet{IP: r.Dst.Addr().AsSlice(), Mask: net.CIDRMask(r.Dst.Bits(), 128)},
		LinkIndex: r.LinkIndex,
		Priority:  r.Metric,
		Protocol:  RouteProtocol,
		Table:     unix.RT_TABLE_MAIN,
		Family:    netlink.FAMILY_V6,
	}
}

func prefixFromIPNet(n *net.IPNet) (netip.Prefix, bool) {
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, bits := n.Mask.Size()
	if bits != 128 {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(a.Unmap(), ones), true
}
