package kernel

import (
	"encoding/binary"
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
	// quick sends AddNow's requests; it has a mutex of its own so that an
	// answer waiting for its route never queues behind a dump on h.
	quick quickRoutes
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

// Close closes the netlink sockets.
func (r *Routes) Close() {
	r.mu.Lock()
	if r.h != nil {
		r.h.Close()
		r.h = nil
	}
	r.mu.Unlock()
	r.quick.close()
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

// AddNow installs route like Add but does not wait for the kernel's
// acknowledgement. The kernel handles a request to its routing socket inside
// the sender's sendmsg: when AddNow returns without an error the route is in
// place, unless the kernel refused it. A refusal is only known from the
// acknowledgement, which Failures reads later, off the path between a
// target's verification and the answer to its asker; waiting for it there
// (a second system call, a wakeup of the runtime's poller) would double the
// cost of the route on that path.
func (r *Routes) AddNow(route world.Route) error {
	if err := r.quick.send(route); err != nil {
		return fmt.Errorf("add route %s dev %d metric %d: %w", route.Dst, route.LinkIndex, route.Metric, err)
	}
	return nil
}

// Failures reads the acknowledgements of AddNow's requests and returns one
// error for each route the kernel refused. A refused route is not retried
// here: the caller's next reconcile finds it missing and adds it with Add.
func (r *Routes) Failures() []error {
	return r.quick.failures()
}

// quickRoutes is a netlink socket for requests whose acknowledgement is read
// later. It is non-blocking and never waited on: acknowledgements queue in
// it until failures reads them.
type quickRoutes struct {
	// mu protects everything below.
	mu  sync.Mutex
	fd  int
	ok  bool // fd is open
	seq uint32
	// sent maps the sequence numbers of unread acknowledgements to their
	// routes.
	sent map[uint32]world.Route
	buf  []byte
	msg  []byte
}

// maxUnacked bounds the requests sent before their acknowledgements are
// read; past it failures runs first. The daemon reads them right after
// each route; a burst of new hosts may send more before it gets to it.
const maxUnacked = 256

func (q *quickRoutes) openLocked() error {
	if q.ok {
		return nil
	}
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("netlink: %w", err)
	}
	// An acknowledgement of success needs no copy of the request.
	_ = unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_CAP_ACK, 1)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return fmt.Errorf("netlink: %w", err)
	}
	q.fd, q.ok = fd, true
	q.sent = map[uint32]world.Route{}
	q.buf = make([]byte, 16<<10)
	return nil
}

func (q *quickRoutes) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.ok {
		unix.Close(q.fd)
		q.ok = false
	}
}

func (q *quickRoutes) send(route world.Route) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if err := q.openLocked(); err != nil {
		return err
	}
	if len(q.sent) >= maxUnacked {
		return errTooManyUnacked
	}
	q.seq++
	q.msg = newRouteMsg(q.msg[:0], route, q.seq)
	if err := unix.Sendto(q.fd, q.msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return err
	}
	q.sent[q.seq] = route
	return nil
}

// errTooManyUnacked makes a caller that sends faster than acknowledgements
// are read wait for the reconcile instead of losing track of refusals.
var errTooManyUnacked = errors.New("too many route requests not yet acknowledged")

func (q *quickRoutes) failures() []error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.ok {
		return nil
	}
	var errs []error
	for {
		n, _, err := unix.Recvfrom(q.fd, q.buf, unix.MSG_DONTWAIT)
		if errors.Is(err, unix.EAGAIN) {
			break
		}
		if err != nil {
			// ENOBUFS: acknowledgements were dropped, which ones is not
			// known. The reconcile compares with the kernel's table anyway.
			errs = append(errs, fmt.Errorf("reading route acknowledgements: %w", err))
			clear(q.sent)
			break
		}
		for _, a := range parseAcks(q.buf[:n]) {
			route, ok := q.sent[a.seq]
			if !ok {
				continue
			}
			delete(q.sent, a.seq)
			if a.errno != 0 {
				errs = append(errs, fmt.Errorf("add route %s dev %d metric %d: %w", route.Dst, route.LinkIndex, route.Metric, a.errno))
			}
		}
	}
	return errs
}

// newRouteMsg appends an RTM_NEWROUTE request for route, tagged with
// RouteProtocol, replacing an equal route (what netlink.RouteReplace sends,
// built without its allocations).
func newRouteMsg(b []byte, route world.Route, seq uint32) []byte {
	ne := binary.NativeEndian
	b = ne.AppendUint32(b, 0) // length, set below
	b = ne.AppendUint16(b, unix.RTM_NEWROUTE)
	b = ne.AppendUint16(b, unix.NLM_F_REQUEST|unix.NLM_F_ACK|unix.NLM_F_CREATE|unix.NLM_F_REPLACE)
	b = ne.AppendUint32(b, seq)
	b = ne.AppendUint32(b, 0) // port: the kernel fills in ours
	// struct rtmsg
	b = append(b, unix.AF_INET6, byte(route.Dst.Bits()), 0, 0,
		unix.RT_TABLE_MAIN, RouteProtocol, unix.RT_SCOPE_UNIVERSE, unix.RTN_UNICAST)
	b = ne.AppendUint32(b, 0) // rtm_flags
	dst := route.Dst.Masked().Addr().As16()
	b = appendAttr(b, unix.RTA_DST, dst[:])
	b = appendAttr(b, unix.RTA_OIF, ne.AppendUint32(nil, uint32(route.LinkIndex)))
	if route.Metric > 0 {
		b = appendAttr(b, unix.RTA_PRIORITY, ne.AppendUint32(nil, uint32(route.Metric)))
	}
	ne.PutUint32(b, uint32(len(b)))
	return b
}

// appendAttr appends one route attribute; every value here is a multiple of
// four bytes long, so no padding is needed.
func appendAttr(b []byte, typ uint16, v []byte) []byte {
	b = binary.NativeEndian.AppendUint16(b, uint16(unix.SizeofRtAttr+len(v)))
	b = binary.NativeEndian.AppendUint16(b, typ)
	return append(b, v...)
}

type ack struct {
	seq   uint32
	errno unix.Errno // 0: done
}

// parseAcks returns the acknowledgements (NLMSG_ERROR messages) in one
// datagram from the kernel; anything malformed ends the walk.
func parseAcks(b []byte) []ack {
	ne := binary.NativeEndian
	var out []ack
	for len(b) >= unix.NLMSG_HDRLEN {
		l := int(ne.Uint32(b))
		if l < unix.NLMSG_HDRLEN || l > len(b) {
			break
		}
		if ne.Uint16(b[4:]) == unix.NLMSG_ERROR && l >= unix.NLMSG_HDRLEN+4 {
			code := int32(ne.Uint32(b[unix.NLMSG_HDRLEN:]))
			out = append(out, ack{seq: ne.Uint32(b[8:]), errno: unix.Errno(-code)})
		}
		l = (l + unix.NLMSG_ALIGNTO - 1) &^ (unix.NLMSG_ALIGNTO - 1)
		if l > len(b) {
			break
		}
		b = b[l:]
	}
	return out
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
