// Package daemon runs ndproxy: it turns netlink pokes into snapshots, plans,
// and changes to the kernel and the proxy engines, and undoes them on exit.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ndproxy/ndproxy/internal/config"
	"github.com/ndproxy/ndproxy/internal/control"
	"github.com/ndproxy/ndproxy/internal/kernel"
	"github.com/ndproxy/ndproxy/internal/netifd"
	"github.com/ndproxy/ndproxy/internal/netmon"
	"github.com/ndproxy/ndproxy/internal/plan"
	"github.com/ndproxy/ndproxy/internal/proxy"
	"github.com/ndproxy/ndproxy/internal/sdnotify"
	"github.com/ndproxy/ndproxy/internal/world"
)

const (
	// debounce is how long a burst of pokes is gathered before one
	// snapshot: a link flap is a dozen netlink messages.
	debounce = 50 * time.Millisecond
	// A failed reconcile is tried again after retryMin, doubling up to
	// retryMax while it keeps failing (a route the kernel refuses must not
	// become a busy loop).
	retryMin, retryMax = time.Second, 30 * time.Second
)

// Daemon is the running ndproxy.
type Daemon struct {
	path   string
	log    *slog.Logger
	level  *slog.LevelVar
	sys    *kernel.Sysctls
	routes *kernel.Routes
	pokeCh chan struct{}
	// routed says host routes went in without a reconcile (onTargetChange):
	// their acknowledgements are to be read.
	routed chan struct{}
	// notify tells systemd about readiness, reloads and stopping; it does
	// nothing outside systemd.
	notify *sdnotify.Notifier
	// wg watches WireGuard devices and owns the link-locals put on them
	// (wg.go).
	wg *wireguard

	// mu protects the fields below: the run loop writes them, the control
	// socket reads them.
	mu      sync.Mutex
	cfg     *config.Config
	engines map[string]*running
	waiting map[string]string
	world   *world.World
	// warnings are the problems of the last reconcile, for status.
	warnings []string
	// prefixes are the prefixes in force per running proxy, with their origin.
	prefixes map[string]map[netip.Prefix]string
	// netifd is set once ubus is up, on OpenWrt only.
	netifd *netifd.Watcher
	// mdns are the mDNS reflectors (mdns.go), with their own lock.
	mdns reflectors
	// ra are the RA relays of proxy sections (ra.go) and adv the RA
	// advertisers of wireguard sections (advertise.go), with their own
	// locks.
	ra  raRelays
	adv raRelays
	// netmgr is set once the host's network manager is followed over
	// D-Bus, on plain Linux only (dbus.go).
	netmgr interface {
		Delegated() map[string][]netip.Prefix
	}
}

type running struct {
	e        *proxy.Engine
	identity string
	cancel   context.CancelFunc
	done     chan struct{}
}

// New returns a daemon for the already loaded configuration cfg, read from path.
func New(path string, cfg *config.Config, log *slog.Logger, level *slog.LevelVar) *Daemon {
	return &Daemon{
		path:    path,
		cfg:     cfg,
		log:     log,
		level:   level,
		sys:     kernel.NewSysctls(kernel.SysctlRoot, statePath(cfg.Global.Socket)),
		pokeCh:  make(chan struct{}, 1),
		routed:  make(chan struct{}, 1),
		notify:  sdnotify.NotifierFromEnv(),
		routes:  new(kernel.Routes),
		engines: map[string]*running{},
		wg:      newWireGuard(log),
		waiting: map[string]string{},
		ra:      raRelays{kind: "RA relay"},
		adv:     raRelays{kind: "RA advertiser"},
	}
}

func (d *Daemon) poke() {
	select {
	case d.pokeCh <- struct{}{}:
	default:
	}
}

// Run serves until ctx is done, reloading on every receive from hup, then
// removes everything it installed.
func (d *Daemon) Run(ctx context.Context, hup <-chan struct{}) error {
	ctrlCtx, stopCtrl := context.WithCancel(context.Background())
	defer stopCtrl()
	ctrlErr := make(chan error, 1)
	go func() { ctrlErr <- control.Serve(ctrlCtx, d.cfg.Global.Socket, d, d.log) }()

	monCtx, stopMon := context.WithCancel(ctx)
	monDone := make(chan struct{})
	go func() {
		defer close(monDone)
		netmon.New(d.log).Run(monCtx, d.poke)
	}()
	defer func() { stopMon(); <-monDone }()
	wgDone := d.startWireGuard(monCtx)
	defer func() { stopMon(); <-wgDone }()
	go d.runUbus(monCtx)
	go d.runDBus(monCtx)

	d.log.Info("ndproxy started", "config", d.path, "proxies", len(d.cfg.Proxies))
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	armed := false
	retry := retryMin
	ready := false
	for {
		select {
		case <-ctx.Done():
			return d.shutdown()
		case err := <-ctrlErr:
			if err != nil {
				d.shutdown()
				return err
			}
		case <-hup:
			if err := d.reloadNotifying(); err != nil {
				d.log.Error("reload failed, keeping the running configuration", "err", err)
			}
		case <-d.routed:
			// A refused route is missing from the kernel's table: the
			// reconcile adds it again, with the acknowledged call.
			if errs := d.routes.Failures(); len(errs) > 0 {
				for _, err := range errs {
					d.log.Warn("host route refused", "err", err)
				}
				d.poke()
			}
		case <-d.pokeCh:
			if !armed {
				timer.Reset(debounce)
				armed = true
			}
		case <-timer.C:
			armed = false
			err := d.reconcile(ctx)
			if !ready {
				// Ready once the first plan is applied, as far as it
				// could be: `systemctl start` returns when `ndproxy
				// status` has something to say.
				ready = true
				d.sdNotify(sdnotify.Ready, "STATUS=running")
			}
			if err != nil {
				d.log.Warn("could not apply everything, retrying", "in", retry, "err", err)
				timer.Reset(retry)
				armed = true
				retry = min(2*retry, retryMax)
				continue
			}
			retry = retryMin
		}
	}
}

// Reload re-reads the configuration file. A bad file leaves the running
// configuration in force.
func (d *Daemon) Reload() error {
	cfg, err := config.Load(d.path)
	if err != nil {
		return err
	}
	d.mu.Lock()
	old := d.cfg
	d.cfg = cfg
	d.mu.Unlock()
	if cfg.Global.Socket != old.Global.Socket {
		d.log.Warn("the control socket path changes only on restart", "socket", old.Global.Socket)
	}
	d.level.Set(Level(cfg.Global.LogLevel))
	d.log.Info("configuration reloaded", "proxies", len(cfg.Proxies))
	d.poke()
	return nil
}

// reloadNotifying is Reload as systemd sees it: RELOADING=1, then READY=1
// whatever the outcome, since the daemon goes on running either way.
func (d *Daemon) reloadNotifying() error {
	d.sdNotify(sdnotify.Reloading())
	err := d.Reload()
	d.sdNotify(sdnotify.Ready)
	return err
}

func (d *Daemon) sdNotify(state ...string) {
	if err := d.notify.Notify(state...); err != nil {
		d.log.Warn("cannot notify systemd", "err", err)
	}
}

// reconcile takes a snapshot, plans and applies the difference.
func (d *Daemon) reconcile(ctx context.Context) error {
	w, err := netmon.Snapshot(d.sys, d.routes)
	if err != nil {
		return err
	}
	d.mu.Lock()
	w.Logical = d.netifd.Interfaces()
	if d.netmgr != nil {
		w.AddDelegated(d.netmgr.Delegated())
	}
	cfg := d.cfg
	var targets []plan.Target
	for _, r := range d.engines {
		targets = append(targets, r.e.Targets()...)
	}
	d.mu.Unlock()
	if err := d.wg.snapshot(cfg, w); err != nil {
		return err
	}

	want := plan.Compute(cfg, w, targets)

	var errs []error
	for _, s := range want.Sysctls {
		if err := d.sys.Set(s.Key, s.Value); err != nil {
			errs = append(errs, err)
		}
	}
	d.applyEngines(ctx, want)
	d.applyReflectors(cfg, w)
	d.applyRelays(ctx, cfg, w)
	d.applyAdvertisers(ctx, cfg, w)
	// Host routes added without waiting (onTargetChange) that the kernel
	// refused are missing from w.Routes: logged here, added again below.
	for _, err := range d.routes.Failures() {
		d.log.Warn("host route refused", "err", err)
	}
	add, del := plan.RouteDiff(w.Routes, want.Routes)
	for _, r := range del {
		if err := d.routes.Del(r); err != nil {
			errs = append(errs, err)
		}
	}
	for _, r := range add {
		if err := d.routes.Add(r); err != nil {
			errs = append(errs, err)
		}
	}
	if len(add)+len(del) > 0 {
		d.log.Debug("routes reconciled", "added", len(add), "removed", len(del))
	}
	errs = append(errs, d.wg.apply(w, want)...)

	d.mu.Lock()
	for name, why := range want.Waiting {
		if d.waiting[name] != why {
			d.log.Info("proxy waiting", "proxy", name, "for", why)
		}
	}
	d.waiting = want.Waiting
	d.world = w
	d.prefixes = map[string]map[netip.Prefix]string{}
	for _, e := range want.Engines {
		d.prefixes[e.Proxy.Name] = e.From
	}
	d.warnings = d.warnings[:0]
	for _, err := range errs {
		d.warnings = append(d.warnings, err.Error())
	}
	d.warnings = append(d.warnings, want.Warnings...)
	d.mu.Unlock()
	return errors.Join(errs...)
}

// applyEngines starts, updates and stops engines to match want.
func (d *Daemon) applyEngines(ctx context.Context, want *plan.Desired) {
	d.mu.Lock()
	defer d.mu.Unlock()
	keep := map[string]bool{}
	for _, spec := range want.Engines {
		name := spec.Proxy.Name
		keep[name] = true
		id := proxy.Identity(spec)
		if r := d.engines[name]; r != nil {
			if r.identity == id {
				r.e.Update(spec)
				continue
			}
			d.stopLocked(name)
		}
		e, err := proxy.Start(spec, d.log, d.onTargetChange(spec.Proxy))
		if err != nil {
			d.log.Error("cannot start proxy engine", "proxy", name, "err", err)
			continue
		}
		ectx, cancel := context.WithCancel(ctx)
		r := &running{e: e, identity: id, cancel: cancel, done: make(chan struct{})}
		go func() {
			defer close(r.done)
			e.Run(ectx)
		}()
		d.engines[name] = r
	}
	for name := range d.engines {
		if !keep[name] {
			d.stopLocked(name)
			d.log.Info("proxy engine stopped", "proxy", name)
		}
	}
}

func (d *Daemon) stopLocked(name string) {
	r := d.engines[name]
	r.cancel()
	<-r.done
	delete(d.engines, name)
	// Its targets are gone: the next plan withdraws their routes.
	d.poke()
}

// onTargetChange installs the host route of a newly verified target at once,
// before the asker's first packet arrives. That route is all a verification
// changes outside the engine, so it starts no reconcile: a reconcile (a
// snapshot of every link, address, route and neighbour, a plan, an update
// of every engine) per new host would spend a millisecond of CPU on
// nothing, 50 ms later, where the next host's first solicitation may be
// waiting for the CPU. netmon ignores the route's own notification for the
// same reason. The run loop reads the kernel's acknowledgement instead and
// reconciles only if the route was refused; the planner wants the same
// route, so the two never disagree. A target withdrawn takes its route with
// it through the next reconcile.
func (d *Daemon) onTargetChange(p config.Proxy) func(*plan.Target) {
	return func(added *plan.Target) {
		if added == nil {
			d.poke()
			return
		}
		if p.Route != config.RouteHost {
			return
		}
		r := world.Route{Dst: netip.PrefixFrom(added.Addr, 128), LinkIndex: added.LinkIndex, Metric: p.RouteMetric}
		if err := d.routes.AddNow(r); err != nil {
			d.log.Warn("cannot add host route", "target", added.Addr, "err", err)
			d.poke()
			return
		}
		select {
		case d.routed <- struct{}{}:
		default:
		}
	}
}

// shutdown stops the engines, removes ndproxy's routes and restores the
// sysctls it changed, in the reverse order of setting them up.
func (d *Daemon) shutdown() error {
	d.sdNotify(sdnotify.Stopping)
	d.stopReflectors()
	d.ra.stop(d.log) // router lifetime 0 to the downstream hosts first
	d.adv.stop(d.log)
	d.mu.Lock()
	for name := range d.engines {
		d.stopLocked(name)
	}
	d.mu.Unlock()
	var errs []error
	routes, err := d.routes.List()
	if err != nil {
		errs = append(errs, err)
	}
	for _, r := range routes {
		if err := d.routes.Del(r); err != nil {
			errs = append(errs, err)
		}
	}
	d.wg.shutdown()
	if err := d.sys.Restore(); err != nil {
		errs = append(errs, err)
	}
	d.routes.Close()
	err = errors.Join(errs...)
	if err != nil {
		d.log.Error("cleanup incomplete", "err", err)
	} else {
		d.log.Info("ndproxy stopped, routes removed and sysctls restored", "routes", len(routes))
	}
	return err
}

// Status implements control.Handler.
func (d *Daemon) Status() control.Status {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := control.Status{Config: d.path, Sysctls: d.sys.Owned(), Warnings: append([]string{}, d.warnings...)}
	name := func(i int) string {
		if d.world != nil {
			if l, ok := d.world.LinkByIndex(i); ok {
				return l.Name
			}
		}
		return fmt.Sprint(i)
	}
	if d.world != nil {
		for _, r := range d.world.Routes {
			st.Routes = append(st.Routes, fmt.Sprintf("%s dev %s metric %d", r.Dst, name(r.LinkIndex), r.Metric))
		}
	}
	for _, p := range d.cfg.Proxies {
		ps := control.ProxyStatus{
			Name: p.Name, Upstream: p.Upstream, Downstream: p.Downstream,
			Verify: string(p.Verify), Route: string(p.Route), State: "waiting",
			WaitingFor: d.waiting[p.Name], Targets: []control.TargetStatus{},
		}
		if from, ok := d.prefixes[p.Name]; ok {
			// In force now, static and taken from interfaces.
			ps.PrefixSources = map[string]string{}
			for pr, src := range from {
				ps.Prefixes = append(ps.Prefixes, pr.String())
				ps.PrefixSources[pr.String()] = src
			}
			slices.Sort(ps.Prefixes)
		} else {
			for _, pr := range p.Prefixes {
				ps.Prefixes = append(ps.Prefixes, pr.String())
			}
		}
		if r := d.engines[p.Name]; r != nil {
			ps.State = "running"
			targets, counters := r.e.Status()
			slices.SortFunc(targets, func(a, b proxy.TargetStatus) int { return a.Address.Compare(b.Address) })
			for _, t := range targets {
				ts := control.TargetStatus{Address: t.Address.String(), State: t.State, Learned: string(t.Learned), AgeSeconds: t.AgeSeconds}
				if t.Link != 0 {
					ts.Interface = name(t.Link)
				}
				ps.Targets = append(ps.Targets, ts)
			}
			ps.Counters = &counters
			ps.Targets = append(ps.Targets, d.wg.targetStatus(p.Name, name)...)
		}
		if rs := d.ra.status(p.Name); rs != nil {
			ps.RARelay = rs
		}
		st.Proxies = append(st.Proxies, ps)
	}
	st.Reflectors = d.reflectorStatus(d.cfg)
	for _, s := range d.cfg.WireGuard {
		st.WireGuard = append(st.WireGuard, control.WireGuardStatus{Name: s.Name, Device: s.Device, RAAdvertise: d.adv.status(s.Name)})
	}
	return st
}

// statePath is where the original sysctl values are kept while ndproxy runs:
// beside the control socket, on the same tmpfs, named after it.
func statePath(socket string) string {
	return strings.TrimSuffix(socket, ".sock") + ".sysctls"
}

// Level maps a configured log_level to slog's.
func Level(name string) slog.Level {
	switch name {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}
