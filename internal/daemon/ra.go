package daemon

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"sync"

	"github.com/ndproxy/ndproxy/internal/config"
	"github.com/ndproxy/ndproxy/internal/ra"
	"github.com/ndproxy/ndproxy/internal/world"
)

// raRelays are running RA runners by section name: the relays of proxy
// sections with ra_relay, or the advertisers of wireguard sections with
// ra_advertise. A runner runs as long as its section does, whether or not
// its links are there: when they go, the hosts must be told there is no
// router any more.
type raRelays struct {
	// kind names the runners in logs: "RA relay" or "RA advertiser".
	kind string
	// mu protects m: the run loop starts and stops runners, Status reads
	// them.
	mu sync.Mutex
	m  map[string]*raRunning
}

type raRunning struct {
	r      *ra.Runner
	cancel context.CancelFunc
	done   chan struct{}
}

// apply starts, updates and stops runners to match want. learn, when not
// nil, gives the learner of the named section's runner.
func (x *raRelays) apply(ctx context.Context, want map[string]ra.Config, log *slog.Logger, learn func(name string) func(netip.Addr, int)) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.m == nil {
		x.m = map[string]*raRunning{}
	}
	for name, rc := range want {
		if r := x.m[name]; r != nil {
			// Also a reload that changed the ra_* options: restarting
			// would take the hosts' default route away for a moment.
			r.r.Update(rc)
			continue
		}
		var l func(netip.Addr, int)
		if learn != nil {
			l = learn(name)
		}
		runner, err := ra.Start(rc, log.With("section", name), l)
		if err != nil {
			log.Error("cannot start the "+x.kind, "section", name, "err", err)
			continue
		}
		rctx, cancel := context.WithCancel(ctx)
		r := &raRunning{r: runner, cancel: cancel, done: make(chan struct{})}
		go func() {
			defer close(r.done)
			runner.Run(rctx)
		}()
		x.m[name] = r
		log.Info(x.kind+" started", "section", name)
	}
	for name := range x.m {
		if _, ok := want[name]; !ok {
			x.stopLocked(name, log)
		}
	}
}

// stop stops every runner; each tells its hosts there is no router.
func (x *raRelays) stop(log *slog.Logger) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for name := range x.m {
		x.stopLocked(name, log)
	}
}

func (x *raRelays) stopLocked(name string, log *slog.Logger) {
	r := x.m[name]
	r.cancel()
	<-r.done
	delete(x.m, name)
	log.Info(x.kind+" stopped", "section", name)
}

// status is the runner of section name, nil without one.
func (x *raRelays) status(name string) *ra.Status {
	x.mu.Lock()
	r := x.m[name]
	x.mu.Unlock()
	if r == nil {
		return nil
	}
	st := r.r.Status()
	return &st
}

// applyRelays starts, updates and stops the RA relays to match cfg and w.
func (d *Daemon) applyRelays(ctx context.Context, cfg *config.Config, w *world.World) {
	want := map[string]ra.Config{}
	for _, p := range cfg.Proxies {
		if p.RARelay {
			want[p.Name] = relayConfig(p, w)
		}
	}
	d.ra.apply(ctx, want, d.log, func(name string) func(netip.Addr, int) {
		return func(addr netip.Addr, link int) { d.learn(name, addr, link) }
	})
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
		if l, ok := raLink(w, name); ok {
			rc.Links = append(rc.Links, l)
		}
	}
	return rc
}

// raLink is the link name (a logical interface or a device) as an RA
// runner sends to it; ok is false while it is missing, down, or has no
// link-local address to send from yet.
func raLink(w *world.World, name string) (ra.Link, bool) {
	l, ok := relayLink(w, name)
	if !ok {
		return ra.Link{}, false
	}
	rl := ra.Link{Index: l.Index, Name: l.Name}
	for _, a := range w.AddrsOf(l.Index) {
		if a.Prefix.Addr().IsLinkLocalUnicast() && !a.Tentative {
			rl.Source = a.Prefix.Addr()
			break
		}
	}
	if !rl.Source.IsValid() {
		return ra.Link{}, false // not yet: the kernel is still doing DAD on it
	}
	if !l.NoARP {
		rl.MAC = l.HardwareAddr
	}
	if ifi, err := net.InterfaceByIndex(l.Index); err == nil {
		rl.MTU = ifi.MTU
	}
	// A WireGuard device delivers ff02::1 to one peer at most: each peer
	// gets its own copy at its link-local address.
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
	return rl, true
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
