package proxy

import (
	"container/heap"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/ndproxy/ndproxy/internal/config"
	"github.com/ndproxy/ndproxy/internal/plan"
)

// A target moves through these states (ndppd calls them sessions):
//
//	          NS, hint                NA                  valid_ttl
//	(none) ──────────► probing ──────────► valid ◄────────────────► refreshing
//	                      │ retries out     ▲        NA                 │ retries out
//	                      ▼                 │ hint: reachable           ▼
//	                   absent ◄─────────────┴───────────────────────── absent
//	                      │ invalid_ttl
//	                      ▼
//	                   (none)
//
// Only valid and refreshing targets are answered for, routed and have their
// solicited-node group joined.
type state uint8

const (
	stateProbing state = iota
	stateValid
	stateRefreshing
	stateAbsent
)

func (s state) String() string {
	return [...]string{"probing", "valid", "refreshing", "absent"}[s]
}

// Source says how a target was learned.
type Source string

const (
	SourceProbe    Source = "probe"     // answered our Neighbor Solicitation
	SourceNeighbor Source = "neighbour" // reachable in the kernel's neighbour cache
	SourceRoute    Source = "route"     // routed through a gateway or point-to-point link
	SourceStatic   Source = "static"    // inside a static prefix
)

const (
	// maxPending bounds the askers remembered per target while it is probed.
	maxPending = 8
	// maxValid bounds the verified targets.
	maxValid = 16384
	// maxUnverified bounds the targets being probed or remembered as absent
	// (the negative cache). Past it the oldest absent entry makes room.
	maxUnverified = 1024
)

// requester is whoever sent a Neighbor Solicitation we owe an answer.
type requester struct {
	Src netip.Addr // unspecified for DAD
	// MAC is the frame's source address: the NA goes straight back to it, so
	// no neighbour resolution of the asker is needed first. Empty on links
	// without link-layer addresses.
	MAC net.HardwareAddr
}

type target struct {
	addr    netip.Addr
	state   state
	link    int   // where it was found
	probeOn []int // links probed in this round
	learned Source
	since   time.Time // first verified, or created
	checked time.Time // last verified
	due     time.Time
	tries   int
	pending []requester
	index   int // in the timer heap
}

// effects is everything the core does to the outside world; the engine
// implements it over sockets and netlink, tests with a recorder.
type effects interface {
	sendNA(r requester, target netip.Addr)
	sendProbe(target netip.Addr, link int)
	join(target netip.Addr)
	leave(target netip.Addr)
	// lookupRoute returns the link a route sends target to and whether that
	// route alone proves the target is there (through a gateway, or on a link
	// without neighbour discovery).
	lookupRoute(target netip.Addr) (link int, direct bool, ok bool)
	// verified is called when a target became valid or moved to another
	// link, so that it is answered from then on and its route goes in at
	// once; withdrawn when a valid target stopped being answered for.
	verified(added plan.Target)
	withdrawn(target netip.Addr)
	// announce tells the operator about a newly verified target, once it
	// has been answered for: logging is slow next to an answer.
	announce(target netip.Addr, link int, how Source)
}

// core is the proxy state machine of one proxy section. It is not safe for
// concurrent use: the engine calls it from one goroutine.
type core struct {
	spec plan.Engine
	fx   effects
	// targets holds every known target; timers orders them by due time.
	targets map[netip.Addr]*target
	timers  timerHeap
	local   map[netip.Addr]bool
	stats   Counters
	budget  probeBudget
	// nValid counts valid and refreshing targets; the rest of targets are
	// unverified. absentQ lists absent targets oldest first, for eviction;
	// entries whose target left the absent state are skipped when met.
	nValid  int
	absentQ []netip.Addr
	// listeners are the solicited-node groups reported downstream.
	listeners listeners
	// routed are prefixes that a route of someone else's already sends, as
	// a whole, to one downstream link (see routedTo).
	routed []routedPrefix
}

// routedPrefix is a prefix the kernel routes, as a whole, to link.
type routedPrefix struct {
	prefix netip.Prefix
	link   int
}

// routedTo returns the downstream link the kernel already routes addr to,
// or 0. Where it is the link a target was just verified on, the target's
// host route is not needed for the asker's first packet.
func (c *core) routedTo(addr netip.Addr) int {
	for _, r := range c.routed {
		if r.prefix.Contains(addr) {
			return r.link
		}
	}
	return 0
}

func newCore(spec plan.Engine, fx effects) *core {
	c := &core{fx: fx, targets: map[netip.Addr]*target{}, stats: newCounters(), budget: newProbeBudget(), listeners: newListeners()}
	c.update(spec, time.Time{})
	return c
}

// update takes a new spec with the same identity (upstream, downstreams,
// section): the local addresses and neighbour hints may have changed.
func (c *core) update(spec plan.Engine, now time.Time) {
	c.spec = spec
	c.local = make(map[netip.Addr]bool, len(spec.Local))
	for _, a := range spec.Local {
		c.local[a] = true
	}
	if now.IsZero() || c.spec.Proxy.Verify == config.VerifyStatic {
		return
	}
	// A neighbour entry only says the kernel saw the host recently: it stays
	// REACHABLE for up to 45 s after a host is switched off, so it starts a
	// probe and never stands in for one.
	for _, h := range spec.Hints {
		if c.local[h.Addr] || c.targets[h.Addr] != nil || !c.roomForNew() || !c.budget.global.take(now) {
			continue
		}
		c.probe(c.add(h.Addr, now), []int{h.LinkIndex}, now)
	}
}

// handleNS decides what to do about a solicitation received on the upstream.
func (c *core) handleNS(ns solicitation, mac net.HardwareAddr, now time.Time) {
	c.stats.Received++
	if !c.spec.Contains(ns.Target) {
		c.stats.Ignored["outside_prefixes"]++
		return
	}
	if c.local[ns.Target] {
		c.stats.Ignored["own_address"]++ // the kernel answers for these
		return
	}
	r := requester{Src: ns.Src, MAC: mac}
	if c.spec.Proxy.Verify == config.VerifyStatic {
		c.answer(r, ns.Target)
		return
	}
	t := c.targets[ns.Target]
	if t == nil {
		if !c.roomForNew() {
			c.stats.Ignored["table_full"]++
			return
		}
		if !c.budget.allow(ns.Src, ns.Target, c.listeners.has(ns.Target, now), now) {
			c.stats.Ignored["rate_limited"]++
			return
		}
		t = c.add(ns.Target, now)
		t.pending = append(t.pending, r)
		c.verify(t, now)
		return
	}
	switch t.state {
	case stateValid, stateRefreshing:
		c.answer(r, t.addr)
	case stateProbing:
		if len(t.pending) < maxPending && !slices.ContainsFunc(t.pending, func(p requester) bool { return p.Src == r.Src }) {
			t.pending = append(t.pending, r)
		}
	case stateAbsent:
		c.stats.Ignored["absent"]++
	}
}

// handleMLD takes the solicited-node groups an MLD message on a downstream
// link joined or left.
func (c *core) handleMLD(changes []groupChange, now time.Time) {
	c.stats.MLDReports++
	c.listeners.apply(changes, now)
}

// handleNA takes an advertisement received on a downstream link.
func (c *core) handleNA(targetAddr netip.Addr, link int, now time.Time) {
	t := c.targets[targetAddr]
	if t == nil || (t.state != stateProbing && t.state != stateRefreshing) || !slices.Contains(t.probeOn, link) {
		return
	}
	c.stats.Verified++
	c.setValid(t, link, SourceProbe, now)
}

// handleTimers runs every target whose time has come and returns when the next
// one is due (zero if none).
func (c *core) handleTimers(now time.Time) time.Time {
	for len(c.timers) > 0 && !c.timers[0].due.After(now) {
		t := c.timers[0]
		switch t.state {
		case stateProbing, stateRefreshing:
			if t.tries < c.spec.Proxy.ProbeRetries {
				c.sendProbes(t, now)
				continue
			}
			c.setAbsent(t, now)
		case stateValid:
			// Re-verify before expiry instead of dropping: a live host keeps
			// its route and group without a gap.
			t.state = stateRefreshing
			c.verify(t, now)
		case stateAbsent:
			c.forget(t)
		}
	}
	if len(c.timers) == 0 {
		return time.Time{}
	}
	return c.timers[0].due
}

// nextDue returns when the next target is due (zero if none).
func (c *core) nextDue() time.Time {
	if len(c.timers) == 0 {
		return time.Time{}
	}
	return c.timers[0].due
}

// verify starts a verification round for t according to the section's mode.
func (c *core) verify(t *target, now time.Time) {
	links := make([]int, 0, len(c.spec.Downstreams))
	for _, l := range c.spec.Downstreams {
		links = append(links, l.Index)
	}
	if c.spec.Proxy.Verify == config.VerifyAuto {
		link, direct, ok := c.fx.lookupRoute(t.addr)
		switch {
		case !ok || link == c.spec.Upstream.Index:
			// No route, or one that points back where the question came
			// from: answering would attract traffic we cannot deliver.
			c.setAbsent(t, now)
			return
		case direct:
			c.setValid(t, link, SourceRoute, now)
			return
		}
		links = []int{link}
	} else if t.state == stateRefreshing {
		links = []int{t.link}
	}
	c.probe(t, links, now)
}

func (c *core) probe(t *target, links []int, now time.Time) {
	t.probeOn = links
	t.tries = 0
	c.sendProbes(t, now)
}

func (c *core) sendProbes(t *target, now time.Time) {
	for _, l := range t.probeOn {
		c.fx.sendProbe(t.addr, l)
		c.stats.ProbesSent++
	}
	t.tries++
	c.schedule(t, now.Add(c.spec.Proxy.ProbeTimeout))
}

func (c *core) setValid(t *target, link int, how Source, now time.Time) {
	fresh := t.state == stateProbing || t.state == stateAbsent
	if fresh {
		c.nValid++
	}
	moved := t.link != link
	t.state, t.link, t.learned, t.checked, t.tries = stateValid, link, how, now, 0
	if fresh {
		t.since = now
	}
	c.schedule(t, now.Add(c.spec.Proxy.ValidTTL))
	// The host route goes in before the answer: the asker's queued packet
	// follows the advertisement within microseconds, and without the route
	// the kernel would send it elsewhere, typically back out of the
	// upstream's on-link /64. Where a route already sends the target to
	// this link (the admin's route for the prefix, say), or no host route
	// is wanted, the answer goes first: adding a route costs tens of
	// microseconds when the kernel's route code is cold. Joining the group
	// (an MLD report) can wait until the asker has its answer.
	changed := fresh || moved
	routeFirst := changed && c.spec.Proxy.Route == config.RouteHost && c.routedTo(t.addr) != link
	if routeFirst {
		c.fx.verified(plan.Target{Proxy: c.spec.Proxy.Name, Addr: t.addr, LinkIndex: link})
	}
	for _, r := range t.pending {
		c.answer(r, t.addr)
	}
	t.pending = nil
	if changed && !routeFirst {
		c.fx.verified(plan.Target{Proxy: c.spec.Proxy.Name, Addr: t.addr, LinkIndex: link})
	}
	if fresh {
		c.fx.join(t.addr)
	}
	if fresh || moved {
		c.fx.announce(t.addr, link, how)
	}
}

func (c *core) setAbsent(t *target, now time.Time) {
	wasValid := t.state == stateValid || t.state == stateRefreshing
	if wasValid {
		c.fx.leave(t.addr)
		c.stats.Expired++
		c.nValid--
	}
	c.absentQ = append(c.absentQ, t.addr)
	if len(c.absentQ) > 2*maxUnverified {
		c.compactAbsent()
	}
	if len(t.pending) > 0 {
		c.stats.Ignored["unverified"] += uint64(len(t.pending))
	}
	t.state, t.pending, t.since = stateAbsent, nil, now
	c.schedule(t, now.Add(c.spec.Proxy.InvalidTTL))
	if wasValid {
		c.fx.withdrawn(t.addr)
	}
}

// roomForNew makes room for one more unverified target if it can, evicting
// the oldest absent one when the negative cache is full.
func (c *core) roomForNew() bool {
	if len(c.targets)-c.nValid < maxUnverified {
		return true
	}
	for len(c.absentQ) > 0 {
		addr := c.absentQ[0]
		c.absentQ = c.absentQ[1:]
		if t := c.targets[addr]; t != nil && t.state == stateAbsent {
			c.forget(t)
			c.stats.Evicted++
			return true
		}
	}
	return false // every unverified target is being probed
}

// compactAbsent drops queue entries of targets that are no longer absent.
func (c *core) compactAbsent() {
	q := c.absentQ[:0]
	seen := make(map[netip.Addr]bool, len(c.absentQ))
	for _, a := range c.absentQ {
		if t := c.targets[a]; t != nil && t.state == stateAbsent && !seen[a] {
			seen[a] = true
			q = append(q, a)
		}
	}
	c.absentQ = q
}

func (c *core) forget(t *target) {
	heap.Remove(&c.timers, t.index)
	delete(c.targets, t.addr)
}

func (c *core) add(addr netip.Addr, now time.Time) *target {
	t := &target{addr: addr, state: stateProbing, since: now, index: -1}
	c.targets[addr] = t
	return t
}

func (c *core) schedule(t *target, due time.Time) {
	t.due = due
	if t.index < 0 {
		heap.Push(&c.timers, t)
	} else {
		heap.Fix(&c.timers, t.index)
	}
}

func (c *core) answer(r requester, addr netip.Addr) {
	c.fx.sendNA(r, addr)
	c.stats.Answered++
}

// valid returns the targets being answered for.
func (c *core) valid() []plan.Target {
	var out []plan.Target
	for _, t := range c.targets {
		if t.state == stateValid || t.state == stateRefreshing {
			out = append(out, plan.Target{Proxy: c.spec.Proxy.Name, Addr: t.addr, LinkIndex: t.link})
		}
	}
	slices.SortFunc(out, func(a, b plan.Target) int { return a.Addr.Compare(b.Addr) })
	return out
}

// close leaves every joined group.
func (c *core) close() {
	for _, t := range c.targets {
		if t.state == stateValid || t.state == stateRefreshing {
			c.fx.leave(t.addr)
		}
	}
}

// timerHeap orders targets by due time.
type timerHeap []*target

func (h timerHeap) Len() int           { return len(h) }
func (h timerHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *timerHeap) Push(x any) {
	t := x.(*target)
	t.index = len(*h)
	*h = append(*h, t)
}
func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	t.index = -1
	*h = old[:len(old)-1]
	return t
}
