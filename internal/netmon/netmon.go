// Package netmon watches the kernel's links, addresses, routes and neighbours
// over netlink and takes full snapshots of them.
//
// The monitor is level-triggered: a netlink event only pokes the daemon, which
// then takes a complete Snapshot and recomputes what it wants. A lost,
// duplicated or reordered event therefore cannot corrupt state, and any
// receive error (ENOBUFS when the socket overflows, above all) is handled by
// resubscribing and poking, which forces a full resync.
package netmon

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/ndproxy/ndproxy/internal/kernel"
	"github.com/ndproxy/ndproxy/internal/world"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Monitor subscribes to netlink change notifications.
type Monitor struct {
	log *slog.Logger
}

// New returns a Monitor that logs through log.
func New(log *slog.Logger) *Monitor { return &Monitor{log: log} }

// Run calls poke after every change notification until ctx is done. poke must
// not block. When a subscription fails it is re-established after a short
// pause, and poke is called so that the daemon resynchronises.
func (m *Monitor) Run(ctx context.Context, poke func()) error {
	for {
		err := m.subscribe(ctx, poke)
		if ctx.Err() != nil {
			return nil
		}
		m.log.Warn("netlink subscription lost, resyncing", "err", err)
		poke()
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// subscribe runs one set of subscriptions until one of them fails.
func (m *Monitor) subscribe(ctx context.Context, poke func()) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	failed := make(chan error, 4)
	onErr := func(err error) {
		select {
		case failed <- err:
		default:
		}
	}
	done := ctx.Done()
	// Buffers large enough for a burst; overflow shows up as ENOBUFS and a resync.
	const rcvbuf = 1 << 20

	links := make(chan netlink.LinkUpdate, 64)
	addrs := make(chan netlink.AddrUpdate, 64)
	routes := make(chan netlink.RouteUpdate, 64)
	neighs := make(chan netlink.NeighUpdate, 64)
	if err := netlink.LinkSubscribeWithOptions(links, done, netlink.LinkSubscribeOptions{ErrorCallback: onErr, ReceiveBufferSize: rcvbuf}); err != nil {
		return fmt.Errorf("subscribe links: %w", err)
	}
	if err := netlink.AddrSubscribeWithOptions(addrs, done, netlink.AddrSubscribeOptions{ErrorCallback: onErr, ReceiveBufferSize: rcvbuf}); err != nil {
		return fmt.Errorf("subscribe addresses: %w", err)
	}
	if err := netlink.RouteSubscribeWithOptions(routes, done, netlink.RouteSubscribeOptions{ErrorCallback: onErr, ReceiveBufferSize: rcvbuf}); err != nil {
		return fmt.Errorf("subscribe routes: %w", err)
	}
	if err := netlink.NeighSubscribeWithOptions(neighs, done, netlink.NeighSubscribeOptions{ErrorCallback: onErr, ReceiveBufferSize: rcvbuf}); err != nil {
		return fmt.Errorf("subscribe neighbours: %w", err)
	}
	// The subscriptions are in place: whatever happened before them is
	// covered by the snapshot this poke causes.
	poke()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-failed:
			return err
		case _, ok := <-links:
			if !ok {
				return fmt.Errorf("link subscription closed")
			}
		case u, ok := <-addrs:
			if !ok {
				return fmt.Errorf("address subscription closed")
			}
			if u.LinkAddress.IP.To4() != nil {
				continue
			}
		case u, ok := <-routes:
			if !ok {
				return fmt.Errorf("route subscription closed")
			}
			if u.Family != netlink.FAMILY_V6 {
				continue
			}
			// A route ndproxy added is what it wanted: the daemon reads
			// the kernel's acknowledgement of it instead. Resyncing on
			// it would cost a full snapshot per newly verified target.
			// Its removal, by anyone, still resyncs.
			if u.Type == unix.RTM_NEWROUTE && u.Protocol == kernel.RouteProtocol {
				continue
			}
		case u, ok := <-neighs:
			if !ok {
				return fmt.Errorf("neighbour subscription closed")
			}
			if u.Family != netlink.FAMILY_V6 {
				continue
			}
		}
		poke()
	}
}

// Snapshot reads the complete state the planner needs.
func Snapshot(sys *kernel.Sysctls, routes *kernel.Routes) (*world.World, error) {
	w := &world.World{Sysctls: map[string]string{}}

	links, err := netlink.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	for _, l := range links {
		a := l.Attrs()
		w.Links = append(w.Links, world.Link{
			Index:        a.Index,
			Name:         a.Name,
			Up:           a.Flags&net.FlagUp != 0,
			NoARP:        a.RawFlags&unix.IFF_NOARP != 0,
			HardwareAddr: append([]byte(nil), a.HardwareAddr...),
		})
		for _, key := range []string{"accept_ra", "forwarding"} {
			k := kernel.IPv6Conf(a.Name, key)
			if v, err := sys.Read(k); err == nil {
				w.Sysctls[k] = v
			}
		}
	}
	for _, key := range []string{kernel.IPv6Conf("all", "forwarding")} {
		if v, err := sys.Read(key); err == nil {
			w.Sysctls[key] = v
		}
	}

	addrs, err := netlink.AddrList(nil, netlink.FAMILY_V6)
	if err != nil {
		return nil, fmt.Errorf("list addresses: %w", err)
	}
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok {
			continue
		}
		ones, _ := a.Mask.Size()
		w.Addrs = append(w.Addrs, world.Addr{
			LinkIndex: a.LinkIndex,
			Prefix:    netip.PrefixFrom(ip, ones),
			Tentative: a.Flags&(unix.IFA_F_TENTATIVE|unix.IFA_F_DADFAILED) != 0,
			Valid:     uint32(a.ValidLft),
			Preferred: uint32(a.PreferedLft),
		})
	}

	if w.Routes, err = routes.List(); err != nil {
		return nil, err
	}

	neighs, err := netlink.NeighList(0, netlink.FAMILY_V6)
	if err != nil {
		return nil, fmt.Errorf("list neighbours: %w", err)
	}
	for _, n := range neighs {
		ip, ok := netip.AddrFromSlice(n.IP)
		if !ok || n.Flags&netlink.NTF_PROXY != 0 {
			continue
		}
		const usable = netlink.NUD_REACHABLE | netlink.NUD_PERMANENT | netlink.NUD_STALE | netlink.NUD_DELAY | netlink.NUD_PROBE
		w.Neighbors = append(w.Neighbors, world.Neighbor{
			LinkIndex: n.LinkIndex,
			Addr:      ip,
			Usable:    n.State&usable != 0,
		})
	}
	return w, nil
}
