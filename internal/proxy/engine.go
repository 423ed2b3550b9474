// Package proxy is the NDP proxy engine: it answers Neighbor Solicitations on
// an upstream link for targets it has verified to live downstream.
package proxy

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ndproxy/ndproxy/internal/config"
	"github.com/ndproxy/ndproxy/internal/icmp6"
	"github.com/ndproxy/ndproxy/internal/plan"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Engine runs one proxy section on one upstream link.
type Engine struct {
	log      *slog.Logger
	onChange func(added *plan.Target)
	packet   *packetConn
	icmp     *icmpConn
	// mld reads the downstream hosts' MLD reports; nil if it could not be
	// opened (the engine works without, new hosts just lose their priority).
	mld *mldConn
	// closing is set before the sockets are closed under the readers.
	closing atomic.Bool
	// na holds what every advertisement of this engine carries; it is part
	// of the engine's Identity, so it never changes.
	na advert
	// valid and answers are what the reader answers for at once, without
	// a trip through the run loop or the lock: the verified targets, and
	// what the spec alone decides (a static section's prefixes, the owned
	// targets). valid changes one target at a time as the core verifies
	// and drops them; answers is replaced whenever the spec changes.
	valid   targetSet
	answers atomic.Pointer[answerSet]
	// fastReceived and fastAnswered count what the reader answered itself.
	fastReceived, fastAnswered atomic.Uint64

	updates chan plan.Engine
	// kick wakes the run loop to re-arm its timer after a reader changed
	// the core.
	kick chan struct{}

	// mu protects core: the readers drive it with what they receive, the
	// run loop with its timer and updates, Status reads it.
	mu   sync.Mutex
	core *core
	// groups counts targets per solicited-node group joined on the upstream.
	groups map[netip.Addr]int
	// armed is when the run loop's timer fires, zero when it is not armed.
	armed time.Time
	// queued are the buffers of takeQueuedAdverts.
	queued naBuffers
	// ownedJoined are the owned targets whose groups are joined (owned.go).
	ownedJoined map[netip.Addr]bool
	// probeFrom is the source address of probes per downstream link that
	// the packet socket sends them on (sendProbe).
	probeFrom map[int]netip.Addr
}

// Identity is what, when it changes, needs a new Engine rather than an update:
// the sockets are bound to the upstream and the section's settings shape the
// state machine.
func Identity(e plan.Engine) string {
	// The RA relay's options belong to the relay: changing them must not
	// restart the proxy and make it verify its targets all over again.
	p := e.Proxy
	p.RARelay, p.RAOnLink, p.RADNS, p.RAInterval, p.RAHoldDown = false, false, nil, 0, 0
	s := fmt.Sprintf("%+v|%v|%d|%s|%s", p, e.Prefixes, e.Upstream.Index, e.Upstream.HardwareAddr, e.Source)
	for _, d := range e.Downstreams {
		s += fmt.Sprintf("|%d/%s", d.Index, d.HardwareAddr)
	}
	return s
}

// Start opens the engine's sockets. onChange is called, from one of the
// engine's goroutines with the engine's lock held (it must not call back into
// the engine), whenever the set of verified targets changes: added is a
// newly verified target (or one found on another link), so that its route
// can be installed before the asker's first packet for it arrives; nil says
// a target was dropped. It sits on the path of a first answer: it must be
// quick.
func Start(spec plan.Engine, log *slog.Logger, onChange func(added *plan.Target)) (*Engine, error) {
	pc, err := listenPacket(spec.Upstream.Index)
	if err != nil {
		return nil, err
	}
	ic, err := listenICMP()
	if err != nil {
		pc.close()
		return nil, err
	}
	e := &Engine{
		log:      log.With("proxy", spec.Proxy.Name, "upstream", spec.Upstream.Name),
		onChange: onChange,
		packet:   pc,
		icmp:     ic,
		updates:  make(chan plan.Engine, 1),
		kick:     make(chan struct{}, 1),
		groups:   map[netip.Addr]int{},
	}
	e.na = advert{
		Src:      spec.Source,
		Router:   spec.Proxy.Router,
		Override: spec.Proxy.Override,
		TLLA:     spec.Upstream.HardwareAddr,
	}
	var links []int
	for _, d := range spec.Downstreams {
		if !spec.NoARP[d.Index] {
			links = append(links, d.Index)
		}
	}
	if len(links) > 0 && spec.Proxy.Verify != config.VerifyStatic {
		if e.mld, err = listenMLD(links); err != nil {
			e.log.Warn("cannot read MLD reports downstream; new hosts get no priority during floods", "err", err)
		}
	}
	e.probeFrom = probeSources(spec)
	e.core = newCore(spec, e)
	e.core.routed = routedPrefixes(spec)
	e.publishLocked()
	return e, nil
}

// routedPrefixes asks the kernel which of spec's prefixes a route sends as a
// whole, straight (no gateway), to one of the downstream links, as it would
// route a packet arriving on the upstream: the route that matches the
// prefix's first address must be the prefix or shorter. A longer route
// inside the prefix may still send some targets elsewhere; their host route
// then follows the answer by microseconds instead of preceding it.
func routedPrefixes(spec plan.Engine) []routedPrefix {
	var out []routedPrefix
	for _, p := range spec.Prefixes {
		rs, err := netlink.RouteGetWithOptions(p.Addr().AsSlice(), &netlink.RouteGetOptions{FIBMatch: true, IifIndex: spec.Upstream.Index})
		if err != nil || len(rs) != 1 {
			continue
		}
		r := rs[0]
		if r.Type != unix.RTN_UNICAST || r.Gw != nil || len(r.MultiPath) > 0 || r.Dst == nil {
			continue
		}
		dst, ok := netip.AddrFromSlice(r.Dst.IP)
		ones, bits := r.Dst.Mask.Size()
		if !ok || bits != 128 || ones > p.Bits() || !netip.PrefixFrom(dst.Unmap(), ones).Contains(p.Addr()) {
			continue
		}
		for _, d := range spec.Downstreams {
			if d.Index == r.LinkIndex && !isWireGuard(&spec, d.Index) {
				out = append(out, routedPrefix{prefix: p, link: d.Index})
			}
		}
	}
	return out
}

// targetSet is the set of verified targets the readers answer for. The
// core adds and removes one target at a time, under the engine's lock; the
// readers look targets up without it. A sync.Map fits that use (keys
// written once, read many times, by several goroutines): a lookup takes no
// lock and allocates nothing, and verifying a target costs one insertion,
// where publishing a copied map cost time and garbage in proportion to all
// the targets held, up to maxValid, for every target verified.
type targetSet struct{ m sync.Map }

func (s *targetSet) has(a netip.Addr) bool { _, ok := s.m.Load(a); return ok }
func (s *targetSet) add(a netip.Addr)      { s.m.Store(a, struct{}{}) }
func (s *targetSet) remove(a netip.Addr)   { s.m.Delete(a) }

// probeSources returns, per downstream link with link-layer addresses, the
// address probes on it are sent from: the one the kernel itself would choose
// (linkSource). A link without one is probed through the ICMPv6 socket.
func probeSources(spec plan.Engine) map[int]netip.Addr {
	out := map[int]netip.Addr{}
	for _, d := range spec.Downstreams {
		if len(d.HardwareAddr) == 0 {
			continue
		}
		if src, err := linkSource(d.Index); err == nil {
			out[d.Index] = src
		}
	}
	return out
}

// answerSet is an immutable view of what to answer for that follows from the
// spec alone, apart from the verified targets.
type answerSet struct {
	// static sections answer for everything inside prefixes but local.
	static   bool
	prefixes []netip.Prefix
	local    map[netip.Addr]bool
	owned    ownedSet
}

func (a *answerSet) answers(target netip.Addr) bool {
	if a.owned.has(target) && !a.local[target] {
		return true
	}
	if !a.static || a.local[target] {
		return false
	}
	for _, p := range a.prefixes {
		if p.Contains(target) {
			return true
		}
	}
	return false
}

// publishLocked gives the readers the spec's part of what to answer for,
// after a new spec; e.mu is held.
func (e *Engine) publishLocked() {
	c := e.core
	e.answers.Store(&answerSet{
		static:   c.spec.Proxy.Verify == config.VerifyStatic,
		prefixes: c.spec.Prefixes,
		local:    c.local,
		owned:    e.ownedLocked(),
	})
}

// Update hands the engine a newer spec of the same Identity.
func (e *Engine) Update(spec plan.Engine) {
	select {
	case <-e.updates:
	default:
	}
	e.updates <- spec
}

// Run serves until ctx is done, then closes the sockets and leaves the groups.
func (e *Engine) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); e.readNS() }()
	go func() { defer wg.Done(); e.readNA() }()
	if e.mld != nil {
		wg.Add(1)
		go func() { defer wg.Done(); e.readMLD() }()
		// Hosts that reported their groups before the engine started
		// report them again when asked, once.
		for l := range e.mld.links {
			if err := sendGeneralQuery(l); err != nil {
				e.log.Warn("cannot send MLD query", "link", l, "err", err)
			}
		}
	}
	defer func() {
		e.closing.Store(true)
		e.packet.close()
		if e.mld != nil {
			e.mld.close()
		}
		e.mu.Lock()
		e.core.close()
		e.leaveOwnedLocked()
		e.icmp.close() // under e.mu: takeQueuedAdverts reads it without the poller
		e.mu.Unlock()
		wg.Wait()
	}()

	e.log.Info("proxy engine started", "downstream", linkNames(e.core.spec), "prefixes", e.core.spec.Prefixes, "verify", e.core.spec.Proxy.Verify)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		e.mu.Lock()
		probes := e.core.stats.ProbesSent
		next := e.core.handleTimers(time.Now())
		if e.core.stats.ProbesSent != probes {
			e.takeQueuedAdverts()
			next = e.core.nextDue()
		}
		e.armed = next
		e.mu.Unlock()
		if !next.IsZero() {
			timer.Reset(time.Until(next))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		case spec := <-e.updates:
			// Any route change pokes the daemon, which updates every
			// engine: the place to ask the kernel again, off the lock.
			routed, from := routedPrefixes(spec), probeSources(spec)
			e.mu.Lock()
			e.core.routed, e.probeFrom = routed, from
			e.core.update(spec, time.Now())
			e.publishLocked() // local addresses may have changed
			e.mu.Unlock()
		case <-e.kick:
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

func (e *Engine) readNS() {
	buf := make([]byte, 1500)
	for {
		n, mac, err := e.packet.read(buf)
		if err != nil {
			if !e.closing.Load() {
				e.log.Error("receive on upstream failed", "err", err)
			}
			return
		}
		ns, why := parseNS(buf[:n])
		if why != dropNone {
			e.countDrop(string(why))
			continue
		}
		if e.valid.has(ns.Target) || e.answers.Load().answers(ns.Target) {
			// The hot path: a known target is answered here, so that
			// neither the run loop nor a flood queued before it delays
			// the answer.
			e.fastReceived.Add(1)
			e.sendNA(requester{Src: ns.Src, MAC: mac}, ns.Target)
			e.fastAnswered.Add(1)
			continue
		}
		// The rest is decided by the core, here too: a hand-off to
		// another goroutine costs more than the decision. Under a flood
		// the kernel's socket buffer is the queue, and what overflows it
		// is dropped before it costs anything.
		e.mu.Lock()
		probes := e.core.stats.ProbesSent
		e.core.handleNS(ns, mac, time.Now())
		if e.core.stats.ProbesSent != probes {
			e.takeQueuedAdverts()
		}
		e.unlockWaking()
	}
}

// takeQueuedAdverts hands the core the advertisements already waiting on the
// socket, right after probes went out; called with e.mu held. Where the
// downstream host is in a namespace on this machine (a container behind a
// veth or a bridge), the kernel runs its answer inside the probe's send
// call, so the answer is queued by the time the send returns. Taking it here
// answers the asker before the lock is released, which saves waking the
// advertisement reader through the runtime's poller (10-15 µs of a first
// resolution, traced on the bench), and leaves the target verified rather
// than waiting for a retry, so the run loop need not be woken for one.
// Elsewhere it costs one receive call that finds nothing, per probing
// round, which the probe budget bounds.
func (e *Engine) takeQueuedAdverts() {
	for !e.closing.Load() { // the socket is closed under e.mu, after closing is set
		target, link, err := e.icmp.pollNA(&e.queued)
		if err != nil {
			if err != errNoAdvert {
				e.log.Debug("receive advertisements failed", "err", err)
			}
			return
		}
		e.core.handleNA(target, link, time.Now())
	}
}

// unlockWaking releases e.mu for the readers and wakes the run loop only when
// the core now has a timer due before the one the loop waits for. A timer
// that fires for a target that has moved on since (a probe answered) costs
// one wakeup then; waking the loop for every new probe cost one at once, on
// a second thread, while the answer to the probe was on its way.
func (e *Engine) unlockWaking() {
	next := e.core.nextDue()
	wake := !next.IsZero() && (e.armed.IsZero() || next.Before(e.armed))
	if wake {
		e.armed = next // the loop will arm it; no second kick meanwhile
	}
	e.mu.Unlock()
	if wake {
		e.wake()
	}
}

// wake makes the run loop recompute when its timer is due.
func (e *Engine) wake() {
	select {
	case e.kick <- struct{}{}:
	default:
	}
}

func (e *Engine) readNA() {
	var b naBuffers
	for {
		target, link, err := e.icmp.readNA(&b)
		if err != nil {
			if !e.closing.Load() {
				e.log.Error("receive advertisements failed", "err", err)
			}
			return
		}
		e.mu.Lock()
		e.core.handleNA(target, link, time.Now())
		e.unlockWaking()
	}
}

func (e *Engine) readMLD() {
	buf := make([]byte, 1500)
	for {
		n, err := e.mld.readReport(buf)
		if err != nil {
			if !e.closing.Load() {
				e.log.Error("receive MLD reports failed", "err", err)
			}
			return
		}
		changes, why := parseMLD(buf[:n])
		if why != dropNone {
			e.countDrop("mld_" + string(why))
			continue
		}
		e.mu.Lock()
		e.core.handleMLD(changes, time.Now())
		e.mu.Unlock()
	}
}

func (e *Engine) countDrop(why string) {
	e.mu.Lock()
	e.core.stats.Dropped[why]++
	e.mu.Unlock()
}

// The effects of the core; called with e.mu held, except sendNA, which the
// reader also calls and which touches only what never changes.

func (e *Engine) sendNA(r requester, target netip.Addr) {
	a := e.na
	a.Dst, a.Target, a.Solicited = r.Src, target, true
	mac := r.MAC
	if !r.Src.IsValid() || r.Src.IsUnspecified() {
		// Defending against DAD: tell all nodes, unsolicited (RFC 4861
		// section 7.2.4).
		a.Dst, a.Solicited = allNodes, false
		if len(mac) > 0 {
			mac = multicastMAC(allNodes)
		}
	}
	var buf [ndpLen]byte
	pkt := appendNA(buf[:0], a)
	err := e.packet.write(pkt, mac)
	if err != nil {
		e.log.Warn("send advertisement failed", "target", target, "to", a.Dst, "err", err)
		return
	}
	if e.debugging() {
		e.log.Debug("answered", "target", target, "to", a.Dst)
	}
}

// ndpLen is the length of a solicitation or an advertisement with an
// Ethernet link-layer address option.
const ndpLen = icmp6.IPv6HeaderLen + nsFixedLen + 8

// debugging says whether debug messages are logged: the answer path checks
// before it builds one, which would cost allocations on every answer.
func (e *Engine) debugging() bool {
	return e.log.Enabled(context.Background(), slog.LevelDebug)
}

// sendProbe solicits target on a downstream link. Where the link has
// link-layer addresses it builds the whole packet and sends it through the
// packet socket, as it does its answers: a raw ICMPv6 socket's packet takes
// the kernel's IPv6 output path (route lookup, netfilter, neighbour output),
// which on the bench's machine, for a proxy woken from idle by a first
// solicitation, made the probe reach the island 40 µs later at the median
// (51 µs against 11). The source is the one the kernel would choose, so the
// target's answer comes back as it did.
func (e *Engine) sendProbe(target netip.Addr, link int) {
	var mac net.HardwareAddr
	for _, d := range e.core.spec.Downstreams {
		if d.Index == link {
			mac = d.HardwareAddr
		}
	}
	var err error
	if src, ok := e.probeFrom[link]; ok {
		var buf [ndpLen]byte
		pkt := appendNS(buf[:0], src, target, mac)
		err = e.packet.writeOn(link, pkt, multicastMAC(solicitedNode(target)))
	} else {
		err = e.icmp.sendNS(target, link, mac)
	}
	if err != nil {
		e.log.Warn("send probe failed", "target", target, "link", link, "err", err)
		return
	}
	if e.debugging() {
		e.log.Debug("probe sent", "target", target, "link", link)
	}
}

func (e *Engine) join(target netip.Addr) {
	g := solicitedNode(target)
	e.groups[g]++
	if e.groups[g] > 1 {
		return
	}
	if err := e.icmp.join(e.core.spec.Upstream.Index, g); err != nil {
		// Past the kernel's per-socket membership limit the proxy still
		// works through ALLMULTI where the upstream floods multicast.
		e.log.Warn("join solicited-node group failed", "group", g, "err", err)
	}
}

func (e *Engine) leave(target netip.Addr) {
	g := solicitedNode(target)
	e.groups[g]--
	if e.groups[g] > 0 {
		return
	}
	delete(e.groups, g)
	if err := e.icmp.leave(e.core.spec.Upstream.Index, g); err != nil {
		e.log.Debug("leave solicited-node group failed", "group", g, "err", err)
	}
}

func (e *Engine) lookupRoute(target netip.Addr) (int, bool, bool) {
	routes, err := netlink.RouteGet(target.AsSlice())
	if err != nil || len(routes) == 0 {
		return 0, false, false
	}
	r := routes[0]
	if r.Type != unix.RTN_UNICAST || isWireGuard(&e.core.spec, r.LinkIndex) {
		return 0, false, false
	}
	// Through a gateway, or on a link without neighbour discovery, the
	// route alone is the proof: nothing there would answer a probe.
	return r.LinkIndex, r.Gw != nil || e.core.spec.NoARP[r.LinkIndex], true
}

// verified puts a newly verified target into the readers' set and hands it
// to the owner at once, for its route. Both are cheap: the core calls this
// just before it answers the target's askers, or just after.
func (e *Engine) verified(added plan.Target) {
	e.valid.add(added.Addr)
	e.onChange(&added)
}

// withdrawn takes a target that is no longer answered for out of the
// readers' set; the owner withdraws its route.
func (e *Engine) withdrawn(target netip.Addr) {
	e.valid.remove(target)
	e.onChange(nil)
}

func (e *Engine) announce(target netip.Addr, link int, how Source) {
	name := fmt.Sprint(link)
	for _, d := range e.core.spec.Downstreams {
		if d.Index == link {
			name = d.Name
		}
	}
	e.log.Info("target verified", "target", target, "on", name, "by", how)
}

// Targets returns the targets currently answered for.
func (e *Engine) Targets() []plan.Target {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.core.valid()
}

// TargetStatus describes one known target.
type TargetStatus struct {
	Address netip.Addr `json:"address"`
	State   string     `json:"state"`
	Link    int        `json:"ifindex,omitempty"`
	Learned Source     `json:"learned,omitempty"`
	// AgeSeconds is how long the target has been in its state (verified
	// targets: since first verified), to a tenth of a second.
	AgeSeconds float64 `json:"age_seconds"`
}

// Status returns every known target and the counters.
func (e *Engine) Status() ([]TargetStatus, Counters) {
	now := time.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]TargetStatus, 0, len(e.core.targets))
	for _, t := range e.core.targets {
		ts := TargetStatus{Address: t.addr, State: t.state.String(), AgeSeconds: now.Sub(t.since).Round(100 * time.Millisecond).Seconds()}
		if t.state == stateValid || t.state == stateRefreshing {
			ts.Link, ts.Learned = t.link, t.learned
		}
		out = append(out, ts)
	}
	stats := e.core.stats.clone()
	stats.Received += e.fastReceived.Load()
	stats.Answered += e.fastAnswered.Load()
	return out, stats
}

func linkNames(spec plan.Engine) []string {
	var out []string
	for _, l := range spec.Downstreams {
		out = append(out, l.Name)
	}
	return out
}
