package kernel

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/ndproxy/ndproxy/internal/world"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// RouteProtocol tags every route ndproxy installs (rtm_protocol), so that a
// restart after a crash finds its own leftovers and never touches a route
// someone else made. 78 is unassigned in iproute2's rt_protos; the package
// ships /etc/iproute2/rt_protos.d/ndproxy.conf so `ip route` prints "ndproxy".
const RouteProtocol = 78

// Routes lists, adds and removes ndproxy's routes in the main table. It
// keeps one netlink socket open: a route is added on the path between a
// target's verification and the answer to the asker, where opening a socket
// per request would be most of the cost. The zero value is ready to use.
type Routes struct {
	// mu protects h, which is not safe for concurrent use.
	mu sync.Mutex
	h  *netlink.Handle
}

// handleLocked opens the netlink socket on first use; r.mu is held.
func (r *Routes) handleLocked() (*netlink.Handle, error) {
	if r.h == nil {
		h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
		if err != nil {
			return nil, fmt.Errorf("netlink: %w", err)
		}
		r.h = h
	}
	return r.h, nil
}

// Close closes the netlink socket.
func (r *Routes) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.h != nil {
		r.h.Close()
		r.h = nil
	}
}

// List returns the IPv6 routes carrying RouteProtocol.
func (r *Routes) List() ([]world.Route, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	h, err := r.handleLocked()
	if err != nil {
		return nil, err
	}
	filter := &netlink.Route{Protocol: RouteProtocol, Table: unix.RT_TABLE_MAIN}
	rs, err := h.RouteListFiltered(netlink.FAMILY_V6, filter, netlink.RT_FILTER_PROTOCOL|netlink.RT_FILTER_TABLE)
	if err != nil {
		return nil, fmt.Errorf("list routes: %w", err)
	}
	out := make([]world.Route, 0, len(rs))
	for _, nr := range rs {
		if nr.Dst == nil {
			continue
		}
		dst, ok := prefixFromIPNet(nr.Dst)
		if !ok {
			continue
		}
		out = append(out, world.Route{Dst: dst, LinkIndex: nr.LinkIndex, Metric: nr.Priority})
	}
	return out, nil
}

// Add installs r, replacing an identical route of ours.
func (r *Routes) Add(route world.Route) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	h, err := r.handleLocked()
	if err == nil {
		err = h.RouteReplace(toNetlink(route))
	}
	if err != nil {
		return fmt.Errorf("add route %s dev %d metric %d: %w", route.Dst, route.LinkIndex, route.Metric, err)
	}
	return nil
}

// Del removes r; a route that is already gone is not an error.
func (r *Routes) Del(route world.Route) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	h, err := r.handleLocked()
	if err == nil {
		err = h.RouteDel(toNetlink(route))
	}
	if err != nil && !errors.Is(err, unix.ESRCH) && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("delete route %s dev %d metric %d: %w", route.Dst, route.LinkIndex, route.Metric, err)
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
