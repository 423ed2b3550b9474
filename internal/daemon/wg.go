package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"

	"github.com/ndproxy/ndproxy/internal/config"
	"github.com/ndproxy/ndproxy/internal/control"
	"github.com/ndproxy/ndproxy/internal/kernel"
	"github.com/ndproxy/ndproxy/internal/plan"
	"github.com/ndproxy/ndproxy/internal/wg"
	"github.com/ndproxy/ndproxy/internal/world"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// wireguard is the daemon's side of WireGuard: the watcher that reads the
// devices' peers, and the derived link-local addresses ndproxy puts on
// devices, which it removes again when they are no longer wanted or on exit.
type wireguard struct {
	log        *slog.Logger
	watcher    *wg.Watcher
	linkLocals *wg.LinkLocals
	// last is the snapshot apply saw last, which names the devices of
	// the link-locals removed on exit; only the run loop touches it.
	last *world.World
	// warned is the last set of warnings logged, so each is logged once.
	warned []string

	// mu protects owned: the run loop writes it, Status reads it.
	mu sync.Mutex
	// owned are the owned targets per proxy section, from the last plan.
	owned map[string][]plan.Owned
}

func newWireGuard(log *slog.Logger) *wireguard {
	return &wireguard{log: log, watcher: wg.NewWatcher(log), linkLocals: wg.NewLinkLocals(log)}
}

// startWireGuard starts the watcher; the returned channel is closed when it
// has stopped after ctx is done.
func (d *Daemon) startWireGuard(ctx context.Context) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		d.wg.watcher.Run(ctx, d.poke)
	}()
	return done
}

// snapshot tells the watcher which links to watch, and adds what it knows
// about them to w, with the routes into them that someone else made and the
// default routes (for ra_advertise).
func (x *wireguard) snapshot(cfg *config.Config, w *world.World) error {
	var wants []wg.Want
	for _, c := range plan.WireGuardWants(cfg, w) {
		wants = append(wants, wg.Want{Name: c.Name, Index: c.Index, Up: c.Up, HandshakeTimeout: c.HandshakeTimeout})
	}
	x.watcher.Watch(wants)
	w.WireGuard = x.watcher.Devices()
	if len(w.WireGuard) == 0 {
		return nil
	}
	routes, err := netlink.RouteListFiltered(netlink.FAMILY_V6, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return fmt.Errorf("list routes: %w", err)
	}
	w.DefaultLinks = []int{}
	for _, r := range routes {
		if r.Type == unix.RTN_UNICAST && (r.Dst == nil || r.Dst.IP.IsUnspecified() && prefixLen(r.Dst) == 0) {
			w.DefaultLinks = append(w.DefaultLinks, r.LinkIndex)
		}
	}
	for i := range w.WireGuard {
		dev := &w.WireGuard[i]
		for _, r := range routes {
			if r.LinkIndex != dev.LinkIndex || r.Protocol == kernel.RouteProtocol || r.Dst == nil || r.Type != unix.RTN_UNICAST {
				continue
			}
			a, ok := netip.AddrFromSlice(r.Dst.IP)
			ones, _ := r.Dst.Mask.Size()
			if ok {
				dev.Routes = append(dev.Routes, netip.PrefixFrom(a, ones).Masked())
			}
		}
	}
	return nil
}

// apply puts the wanted derived link-locals on their devices when missing
// and removes those ndproxy added that are no longer wanted; it logs new
// warnings, adds the devices that cannot be read to them, and keeps the
// owned targets for Status.
func (x *wireguard) apply(w *world.World, want *plan.Desired) []error {
	x.last = w
	errs := x.linkLocals.Apply(w, want.LinkLocals)
	if !slices.Equal(x.warned, want.Warnings) {
		for _, s := range want.Warnings {
			if !slices.Contains(x.warned, s) {
				x.log.Warn(s)
			}
		}
		x.warned = slices.Clone(want.Warnings)
	}
	// The watcher logs read errors itself; status shows them too.
	want.Warnings = append(want.Warnings, x.watcher.Problems()...)
	owned := map[string][]plan.Owned{}
	for _, e := range want.Engines {
		owned[e.Proxy.Name] = e.Owned
	}
	x.mu.Lock()
	x.owned = owned
	x.mu.Unlock()
	return errs
}

// shutdown removes every link-local ndproxy added.
func (x *wireguard) shutdown() {
	if err := x.linkLocals.Shutdown(x.last); err != nil {
		x.log.Warn("cannot remove derived link-local addresses", "err", err)
	}
}

// targetStatus lists the owned targets of proxy section name for Status.
func (x *wireguard) targetStatus(name string, ifname func(int) string) []control.TargetStatus {
	x.mu.Lock()
	defer x.mu.Unlock()
	var out []control.TargetStatus
	for _, o := range x.owned[name] {
		addr := o.Prefix.String()
		if o.Prefix.IsSingleIP() {
			addr = o.Prefix.Addr().String()
		}
		out = append(out, control.TargetStatus{Address: addr, State: "owned", Interface: ifname(o.LinkIndex), Learned: "wireguard"})
	}
	return out
}

func prefixLen(n *net.IPNet) int {
	ones, _ := n.Mask.Size()
	return ones
}
