package ra

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ndproxy/ndproxy/internal/icmp6"
)

// Config is what one relay needs to run: where RAs come from and go to.
type Config struct {
	// Upstream is the upstream link's index; 0 while it is missing or down,
	// when the downstream hosts are told there is no router any more.
	Upstream int
	Links    []Link
	Settings Settings
	// Advert, when set, makes the runner a router of its own that
	// announces it, instead of a relay (Upstream is then 0).
	Advert *Advert
}

// Runner runs a Relay over a socket: one reader goroutine and a timer loop.
type Runner struct {
	log     *slog.Logger
	conn    *conn
	learner *learner
	closing atomic.Bool
	updates chan Config
	kick    chan struct{}

	// mu protects relay and upstream: the reader, the timer loop and Status
	// all use them.
	mu       sync.Mutex
	relay    *Relay
	upstream int
}

// Start opens the relay's socket and the learners on the downstream links.
// learn is called, from the learners' goroutines, with every downstream
// host address seen (DAD, NS, NA, RS), for the NDP proxy to verify; nil
// learns nothing (WireGuard links have no neighbour discovery to watch).
func Start(cfg Config, log *slog.Logger, learn func(addr netip.Addr, link int)) (*Runner, error) {
	c, err := listen()
	if err != nil {
		return nil, err
	}
	r := &Runner{log: log, conn: c, updates: make(chan Config, 1), kick: make(chan struct{}, 1), upstream: cfg.Upstream}
	if learn != nil {
		r.learner = newLearner(log, learn)
	}
	r.relay = New(cfg.Settings, cfg.Links, log, r, func(d time.Duration) time.Duration {
		if d <= 0 {
			return 0
		}
		return rand.N(d)
	})
	r.apply(cfg)
	return r, nil
}

// Update hands the runner a newer config; the latest one wins.
func (r *Runner) Update(cfg Config) {
	select {
	case <-r.updates:
	default:
	}
	r.updates <- cfg
}

func (r *Runner) apply(cfg Config) {
	idx := make([]int, 0, len(cfg.Links))
	for _, l := range cfg.Links {
		idx = append(idx, l.Index)
	}
	if err := r.conn.joinRouters(idx); err != nil {
		r.log.Warn("RA relay cannot hear Router Solicitations on a downstream link", "err", err)
	}
	if r.learner != nil {
		r.learner.setLinks(cfg.Links)
	}
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if cfg.Upstream == 0 && r.upstream != 0 {
		r.log.Warn("upstream link gone, downstream hosts told there is no router")
		r.relay.UpstreamGone(now)
	}
	changed := r.upstream != cfg.Upstream
	r.upstream = cfg.Upstream
	r.relay.set = cfg.Settings // a reload: the next RA says what it says now
	if cfg.Upstream != 0 && changed {
		r.relay.solicitLocked(now) // ask the (new) upstream at once
	}
	r.relay.SetLinks(cfg.Links, now)
	if cfg.Advert != nil {
		r.relay.Originate(*cfg.Advert, now)
	}
}

// Run relays until ctx is done; then it tells the downstream hosts there is
// no router any more and closes the sockets.
func (r *Runner) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); r.read() }()
	defer func() {
		r.mu.Lock()
		r.relay.UpstreamGone(time.Now())
		r.mu.Unlock()
		r.closing.Store(true)
		r.conn.close()
		if r.learner != nil {
			r.learner.close()
		}
		wg.Wait()
	}()
	r.mu.Lock()
	if r.upstream != 0 {
		r.relay.solicitLocked(time.Now())
	}
	r.mu.Unlock()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		r.mu.Lock()
		next := r.relay.Tick(time.Now())
		r.mu.Unlock()
		if !next.IsZero() {
			timer.Reset(time.Until(next))
		}
		select {
		case <-ctx.Done():
			return
		case cfg := <-r.updates:
			r.apply(cfg)
		case <-timer.C:
		case <-r.kick:
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

func (r *Runner) read() {
	buf := make([]byte, 65536)
	for {
		n, src, ifindex, hops, err := r.conn.read(buf)
		if err != nil {
			if !r.closing.Load() {
				r.log.Error("RA relay receive failed", "err", err)
			}
			return
		}
		r.handle(buf[:n], src, ifindex, hops, time.Now())
		select {
		case r.kick <- struct{}{}:
		default:
		}
	}
}

// handle validates one received message and gives it to the relay.
func (r *Runner) handle(b []byte, src netip.Addr, ifindex, hops int, now time.Time) {
	if len(b) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	upstream := ifindex == r.upstream && r.upstream != 0
	_, downstream := r.relay.links[ifindex]
	if !upstream && !downstream {
		return // another link of this host: not ours to judge
	}
	if why := CheckHeader(b[0], src, hops); why != "" {
		r.relay.Drop(why)
		return
	}
	switch b[0] {
	case icmp6.TypeRA:
		m, why := ParseRA(b)
		if why != "" {
			r.relay.Drop(why)
			return
		}
		r.relay.HandleRA(m, src, ifindex, upstream, now)
	case icmp6.TypeRS:
		if upstream {
			return // the upstream's routers answer those
		}
		if why := ParseRS(b, src); why != "" {
			r.relay.Drop(why)
			return
		}
		r.relay.HandleRS(ifindex, now)
	}
}

// send implements effects; r.mu is held.
func (r *Runner) send(l Link, b []byte) {
	dsts := l.Unicast
	if len(dsts) == 0 {
		dsts = []netip.Addr{allNodes}
	}
	for _, d := range dsts {
		if err := r.conn.send(b, l.Index, l.Source, d); err != nil {
			r.log.Warn("RA relay send failed", "interface", l.Name, "to", d, "err", err)
			continue
		}
		r.log.Debug("Router Advertisement sent", "interface", l.Name, "to", d)
	}
}

// solicit implements effects: an empty RS to all-routers on the upstream,
// as odhcpd sends (the kernel picks our link-local as its source).
func (r *Runner) solicit() {
	if r.upstream == 0 {
		return
	}
	if err := r.conn.send([]byte{icmp6.TypeRS, 0, 0, 0, 0, 0, 0, 0}, r.upstream, netip.Addr{}, allRouters); err != nil {
		r.log.Debug("RA relay cannot solicit upstream", "err", err)
	}
}

// Status reports the relay.
func (r *Runner) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.relay.Status(time.Now())
}
