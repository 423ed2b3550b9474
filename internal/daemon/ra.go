package daemon

import (
	"context"
	"net"
	"net/netip"
	"sync"

	"github.com/ndproxy/ndproxy/internal/config"
	"github.com/ndproxy/ndproxy/internal/ra"
	"github.com/ndproxy/ndproxy/internal/world"
)

// raRelays are the running Router Advertisement relays, one per proxy
// section with ra_relay. A relay runs as long as its section does, whether
// or not the upstream is there: when it goes, the downstream hosts must be
// told there is no router any more.
type raRelays struct {
	// mu protects m: the run loop starts and stops relays, Status reads them.
	mu sync.Mutex
	m  map[string]*raRunning
}

type raRunning struct {
	r      *ra.Runner
	cancel context.CancelFunc
	done   chan struct{}
}

// applyRelays starts, updates and stops the RA relays to match cfg and w.
func (d *Daemon) applyRelays(ctx context.Context, cfg *config.Config, w *world.World) {
	d.ra.mu.Lock()
	defer d.ra.mu.Unlock()
	if d.ra.m == nil {
		d.ra.m = map[string]*raRunning{}
	}
	keep := map[string]bool{}
	for _, p := range cfg.Proxies {
		if !p.RARelay {
			continue
		}
		keep[p.Name] = true
		rc := relayConfig(p, w)
		if r := d.ra.m[p.Name]; r != nil {
			// Also a reload that changed the ra_* options: restarting
			// would take the hosts' default route away for a moment.
			r.r.Update(rc)
			continue
		}
		name := p.Name
		runner, err := ra.Start(rc, d.log.With("proxy", name), func(addr netip.Addr, link int) { d.learn(name, addr, link) })
		if err != nil {
			d.log.Error("cannot start the RA relay", "proxy", name, "err", err)
			continue
		}
		rctx, cancel := context.WithCancel(ctx)
		r := &raRunning{r: runner, cancel: cancel, done: make(chan struct{})}
		go func() {
			defer close(r.done)
			runner.Run(rctx)
		}()
		d.ra.m[name] = r
		d.log.Info("RA relay started", "proxy", name, "upstream", p.Upstream, "downstream", p.Downstream)
	}
	for name := range d.ra.m {
		if !keep[name] {
			d.stopRelayLocked(name)
		}
	}
}

// stopRelays stops every relay; each tells its hosts there is no router.
func (d *Daemon) stopRelays() {
	d.ra.mu.Lock()
	defer d.ra.mu.Unlock()
	for name := range d.ra.m {
		d.stopRelayLocked(name)
	}
}

func (d *Daemon) stopRelayLocked(name string) {
	r := d.ra.m[name]
	r.cancel()
	<-r.done
	delete(d.ra.m, name)
	d.log.Info("RA relay stopped", "proxy", name)
}

// relayStatus is the relay of section name, nil without one.
func (d *Daemon) relayStatus(name string) *ra.Status {
	d.ra.mu.Lock()
	r := d.ra.m[name]
	d.ra.mu.Unlock()
	if r == nil {
		return nil
	}
	st := r.r.Status()
	return &st
}

// learn hands a host the relay saw downstream to the section's proxy
// engine, which verifies it like any target.
func (d *Daemon) learn(name string, addr netip.Addr, link int) {
	d.mu.Lock()
	r := d.engines[name]
	d.mu.Unlock()
	if r != nil {
		r.e.Learn(addr, link)
	}
}

// relayConfig resolves the section's interfaces in w: the upstream's index
// (0 while it is missing or down), and each downstream that is up and has
// a usable link-local address to send from.
func relayConfig(p config.Proxy, w *world.World) ra.Config {
	rc := ra.Config{Settings: ra.Settings{OnLink: p.RAOnLink, DNS: p.RADNS, Interval: p.RAInterval, HoldDown: p.RAHoldDown}}
	if l, ok := relayLink(w, p.Upstream); ok {
		rc.Upstream = l.Index
	}
	for _, name := range p.Downstream {
		l, ok := relayLink(w, name)
		if !ok {
			continue
		}
		rl := ra.Link{Index: l.Index, Name: l.Name}
		for _, a := range w.AddrsOf(l.Index) {
			if a.Prefix.Addr().IsLinkLocalUnicast() && !a.Tentative {
				rl.Source = a.Prefix.Addr()
				break
			}
		}
		if !rl.Source.IsValid() {
			continue // not yet: the kernel is still doing DAD on it
		}
		if !l.NoARP {
			rl.MAC = l.HardwareAddr
		}
		if ifi, err := net.InterfaceByIndex(l.Index); err == nil {
			rl.MTU = ifi.MTU
		}
		// A WireGuard device delivers ff02::1 to one peer at most: each
		// peer gets its own copy at its link-local address.
		if dev, ok := w.WireGuardByIndex(l.Index); ok {
			for _, peer := range dev.Peers {
				for _, a := range peer.AllowedIPs {
					if a.Addr().IsLinkLocalUnicast() && a.Bits() == 128 {
						rl.Unicast = append(rl.Unicast, a.Addr())
					} else if peer.LinkLocal.IsValid() && a.Contains(peer.LinkLocal) {
						rl.Unicast = append(rl.Unicast, peer.LinkLocal)
					}
				}
			}
		}
		rc.Links = append(rc.Links, rl)
	}
	return rc
}

// relayLink resolves name (a logical interface or a device) to an up link.
func relayLink(w *world.World, name string) (world.Link, bool) {
	dev := name
	if l, ok := w.LogicalByName(name); ok {
		if !l.Up || l.Device == "" {
			return world.Link{}, false
		}
		dev = l.Device
	}
	l, ok := w.LinkByName(dev)
	return l, ok && l.Up
}
