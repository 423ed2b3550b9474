package ra

import (
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"
)

const (
	// minDelay is MIN_DELAY_BETWEEN_RAS (RFC 4861 section 10): multicast
	// RAs on one link are at least this far apart.
	minDelay = 3 * time.Second
	// maxRSDelay is MAX_RA_DELAY_TIME: an RS is answered within it, at a
	// random moment so that routers on a link do not answer together.
	maxRSDelay = 500 * time.Millisecond
	// solicitInterval spaces the RSs forwarded upstream
	// (RTR_SOLICITATION_INTERVAL): a downstream storm is not passed on.
	solicitInterval = 4 * time.Second
	// maxRouters bounds the upstream routers remembered.
	maxRouters = 8
)

// The relay's states, per relay and per downstream link:
//
//	           upstream RA                     upstream P=1 RA
//	waiting ───────────────► relaying ─────────────────────────► held down
//	   ▲   lifetimes out or       │  ▲          hold-down over        │
//	   └──── upstream gone ───────┘  └───────────────────────────────┘
//
// A downstream link that sees an RA not sent by the relay is held down on its
// own: nothing is sent there until its hold-down is over.

// effects is what the relay does to the world; the runner sends on sockets,
// tests record.
type effects interface {
	// send transmits b, an RA built for l, to l's hosts.
	send(l Link, b []byte)
	// solicit sends a Router Solicitation on the upstream link.
	solicit()
}

// Relay is the RA relay of one proxy section. It is not safe for concurrent
// use; the runner serializes every call.
type Relay struct {
	log  *slog.Logger
	fx   effects
	set  Settings
	rand func(time.Duration) time.Duration // uniform in [0, d)

	routers map[netip.Addr]*router
	links   map[int]*linkState
	// heldUntil stops all relaying after a proxied RA came from upstream.
	heldUntil time.Time
	// solicited is when the last RS was forwarded upstream.
	solicited time.Time
	stats     Counters
	// own is set when the relay originates RAs (see origin.go).
	own *origin
}

type router struct {
	msg Message
	at  time.Time
	// defaultGone is set once the router lifetime has run out and the
	// downstream hosts were told.
	defaultGone bool
}

type linkState struct {
	Link
	heldUntil time.Time
	lastSent  time.Time
	next      time.Time // next RA due; zero when none is scheduled
	sent      uint64
}

// Counters are what the relay has seen and done.
type Counters struct {
	Received          uint64            `json:"received"`
	Relayed           uint64            `json:"relayed"`
	Solicitations     uint64            `json:"solicitations"`
	SolicitsForwarded uint64            `json:"solicitations_forwarded"`
	Loops             uint64            `json:"loops"`
	Dropped           map[string]uint64 `json:"dropped"`
}

// New returns a relay for links with settings s.
func New(s Settings, links []Link, log *slog.Logger, fx effects, rand func(time.Duration) time.Duration) *Relay {
	r := &Relay{log: log, fx: fx, set: s, rand: rand, routers: map[netip.Addr]*router{}, links: map[int]*linkState{},
		stats: Counters{Dropped: map[string]uint64{}}}
	r.SetLinks(links, time.Time{})
	return r
}

// SetLinks replaces the downstream links; a new link gets an RA soon, a
// changed one keeps its timers and hold-down.
func (r *Relay) SetLinks(links []Link, now time.Time) {
	old := r.links
	r.links = make(map[int]*linkState, len(links))
	for _, l := range links {
		ls := old[l.Index]
		if ls == nil {
			ls = &linkState{}
			if r.advertising() {
				ls.next = now
			}
		}
		ls.Link = l
		r.links[l.Index] = ls
	}
}

// Drop counts a received message dropped for why.
func (r *Relay) Drop(why string) { r.stats.Dropped[why]++ }

// HandleRA takes a valid RA received from src on link ifindex; upstream
// says whether that is the upstream link.
func (r *Relay) HandleRA(m Message, src netip.Addr, ifindex int, upstream bool, now time.Time) {
	r.stats.Received++
	if r.own != nil {
		// Another router on a link we advertise on (the peer may be
		// one): hosts may have several, nothing loops.
		return
	}
	if !upstream {
		ls := r.links[ifindex]
		if ls == nil {
			r.Drop(DropNoDownlink)
			return
		}
		// RFC 4389 section 4.1.3.3: an RA on a proxied link means another
		// router or relay is there; relaying too could make a loop.
		r.stats.Loops++
		r.Drop(DropLoop)
		if !ls.heldUntil.After(now) {
			r.log.Warn("RA relay loop guard: a Router Advertisement arrived on a downstream link, relaying there stops",
				"interface", ls.Name, "from", src, "for", r.set.HoldDown)
		}
		ls.heldUntil, ls.next = now.Add(r.set.HoldDown), time.Time{}
		return
	}
	if m.Flags&FlagProxy != 0 {
		r.stats.Loops++
		r.Drop(DropLoop)
		if !r.heldUntil.After(now) {
			r.log.Warn("RA relay loop guard: the upstream RA is itself proxied (P flag), relaying stops",
				"from", src, "for", r.set.HoldDown)
		}
		r.heldUntil = now.Add(r.set.HoldDown)
		return
	}
	if r.heldUntil.After(now) {
		r.Drop(DropHeldDown)
		return
	}
	old := r.routers[src]
	if old == nil && len(r.routers) >= maxRouters {
		r.Drop(DropTooMany)
		return
	}
	if old == nil {
		r.log.Info("relaying Router Advertisements", "from", src, "router_lifetime", time.Duration(m.RouterLifetime)*time.Second)
	}
	changed := old == nil || !equal(old.msg, m)
	r.routers[src] = &router{msg: m, at: now}
	for _, ls := range r.links {
		r.scheduleLocked(ls, now, changed)
	}
}

// scheduleLocked asks for an RA on ls soon: at once when the upstream
// changed something, else no sooner than minDelay after the last one.
func (r *Relay) scheduleLocked(ls *linkState, now time.Time, urgent bool) {
	at := now
	if !urgent && now.Sub(ls.lastSent) < minDelay {
		at = ls.lastSent.Add(minDelay)
	}
	if ls.next.IsZero() || at.Before(ls.next) {
		ls.next = at
	}
}

// HandleRS takes a valid Router Solicitation received on link ifindex.
func (r *Relay) HandleRS(ifindex int, now time.Time) {
	ls := r.links[ifindex]
	if ls == nil {
		r.Drop(DropNoDownlink)
		return
	}
	r.stats.Solicitations++
	// RFC 4861 section 6.2.6: answer at a random moment within
	// MAX_RA_DELAY_TIME, no sooner than minDelay after the last multicast.
	at := now.Add(r.rand(maxRSDelay))
	if at.Sub(ls.lastSent) < minDelay {
		at = ls.lastSent.Add(minDelay)
	}
	if r.advertising() && (ls.next.IsZero() || at.Before(ls.next)) {
		ls.next = at
	}
	// The upstream router may have something newer; ask it, not too often.
	if r.own == nil && !r.heldUntil.After(now) && (r.solicited.IsZero() || now.Sub(r.solicited) >= solicitInterval) {
		r.solicited = now
		r.stats.SolicitsForwarded++
		r.fx.solicit()
	}
}

// Tick runs what is due at now and returns when it wants to be called next
// (zero: only when something arrives).
func (r *Relay) Tick(now time.Time) time.Time {
	if !r.heldUntil.IsZero() && !r.heldUntil.After(now) {
		r.heldUntil = time.Time{}
		r.log.Info("RA relay hold-down over, relaying again")
		r.solicitLocked(now)
	}
	// The upstream routers' RAs count down; when a router lifetime runs
	// out the hosts hear so at once, and a router with nothing left to
	// advertise is forgotten.
	urgent := false
	for src, rt := range r.routers {
		aged := rt.msg.aged(now.Sub(rt.at))
		if rt.msg.RouterLifetime > 0 && aged.RouterLifetime == 0 && !rt.defaultGone {
			rt.defaultGone = true
			urgent = true
			r.log.Warn("upstream router's RA expired, downstream hosts told it is no default router any more", "from", src)
		}
		if rem, inf := aged.remaining(); !inf && rem == 0 {
			delete(r.routers, src)
			urgent = true
		}
	}
	for _, ls := range r.links {
		if !ls.heldUntil.IsZero() && !ls.heldUntil.After(now) {
			ls.heldUntil = time.Time{}
			r.log.Info("RA relay hold-down over on a downstream link", "interface", ls.Name)
			ls.next = now
		}
		if urgent {
			ls.next = now
		}
	}
	held := r.heldUntil.After(now)
	next := r.heldUntil
	for _, ls := range r.links {
		if !ls.next.IsZero() && !ls.next.After(now) {
			ls.next = time.Time{}
			if !held && ls.heldUntil.IsZero() && r.advertising() {
				r.sendLocked(ls, r.current(now), now)
			}
		}
		next = earliest(next, ls.next, ls.heldUntil)
	}
	for _, rt := range r.routers {
		if rt.msg.RouterLifetime > 0 && !rt.defaultGone {
			next = earliest(next, rt.at.Add(time.Duration(rt.msg.RouterLifetime)*time.Second))
		}
		if rem, inf := rt.msg.remaining(); !inf {
			next = earliest(next, rt.at.Add(rem))
		}
	}
	return next
}

func (r *Relay) solicitLocked(now time.Time) {
	r.solicited = now
	r.stats.SolicitsForwarded++
	r.fx.solicit()
}

// UpstreamGone tells the downstream hosts that there is no default router
// any more (router lifetime 0, RFC 4861 section 6.2.5) and forgets the
// upstream's RAs: the upstream link went away, or ndproxy stops.
func (r *Relay) UpstreamGone(now time.Time) {
	if !r.advertising() {
		return
	}
	m := r.current(now)
	m.RouterLifetime = 0
	if !r.heldUntil.After(now) {
		for _, ls := range r.links {
			if ls.heldUntil.IsZero() {
				r.sendLocked(ls, m, now)
			}
		}
	}
	clear(r.routers)
	r.own = nil
	for _, ls := range r.links {
		ls.next = time.Time{}
	}
}

// current is the merged RA of the upstream routers as of now, lifetimes
// counted down.
func (r *Relay) current(now time.Time) Message {
	if r.own != nil {
		return r.originated(now)
	}
	srcs := make([]netip.Addr, 0, len(r.routers))
	for s := range r.routers {
		srcs = append(srcs, s)
	}
	slices.SortFunc(srcs, func(a, b netip.Addr) int {
		// Freshest first, then by address for a stable order.
		if c := r.routers[b].at.Compare(r.routers[a].at); c != 0 {
			return c
		}
		return a.Compare(b)
	})
	var ms []Message
	for _, s := range srcs {
		rt := r.routers[s]
		ms = append(ms, rt.msg.aged(now.Sub(rt.at)))
	}
	return merge(ms)
}

func (r *Relay) sendLocked(ls *linkState, m Message, now time.Time) {
	var out Message
	if r.own != nil {
		out = rewriteOwn(m, ls.Link, r.set)
	} else {
		out = rewrite(m, ls.Link, r.set)
	}
	r.fx.send(ls.Link, out.Marshal())
	r.stats.Relayed++
	ls.sent++
	ls.lastSent = now
	// The next unsolicited RA comes at a random time between a third of
	// the interval and the interval (RFC 4861 section 6.2.4).
	ls.next = now.Add(r.set.Interval/3 + r.rand(r.set.Interval-r.set.Interval/3))
}

func earliest(ts ...time.Time) time.Time {
	var out time.Time
	for _, t := range ts {
		if !t.IsZero() && (out.IsZero() || t.Before(out)) {
			out = t
		}
	}
	return out
}

// Status is the relay's state for `ndproxy status`.
type Status struct {
	// State is "relaying", "waiting" (no upstream RA yet), "held_down", or
	// "advertising" when ndproxy is the router.
	State string `json:"state"`
	// Advertised and Withdrawn are the prefixes an advertising relay
	// announces, and those it tells hosts to stop using.
	Advertised []string `json:"advertised,omitempty"`
	Withdrawn  []string `json:"withdrawn,omitempty"`
	// HeldDownSeconds is how long relaying stays stopped after a loop.
	HeldDownSeconds float64        `json:"held_down_seconds,omitempty"`
	Routers         []RouterStatus `json:"routers"`
	Links           []LinkStatus   `json:"links"`
	Counters        Counters       `json:"counters"`
}

// RouterStatus is one upstream router whose RAs are relayed.
type RouterStatus struct {
	Source string `json:"source"`
	// LastRASeconds is how long ago its last RA arrived.
	LastRASeconds float64 `json:"last_ra_seconds"`
	// RouterLifetime is what is left of its router lifetime, in seconds.
	RouterLifetime int `json:"router_lifetime"`
}

// LinkStatus is one downstream link.
type LinkStatus struct {
	Interface       string  `json:"interface"`
	Sent            uint64  `json:"sent"`
	HeldDownSeconds float64 `json:"held_down_seconds,omitempty"`
}

// Status reports the relay as of now.
func (r *Relay) Status(now time.Time) Status {
	secs := func(d time.Duration) float64 { return d.Round(100 * time.Millisecond).Seconds() }
	st := Status{State: "waiting", Routers: []RouterStatus{}, Links: []LinkStatus{}, Counters: r.stats}
	st.Counters.Dropped = maps.Clone(r.stats.Dropped)
	if len(r.routers) > 0 {
		st.State = "relaying"
	}
	if r.own != nil {
		st.State = "advertising"
		for _, p := range r.own.adv.Prefixes {
			st.Advertised = append(st.Advertised, p.Prefix.String())
		}
		for p, until := range r.own.withdrawn {
			if until.After(now) {
				st.Withdrawn = append(st.Withdrawn, p.String())
			}
		}
		slices.Sort(st.Withdrawn)
	}
	if r.heldUntil.After(now) {
		st.State, st.HeldDownSeconds = "held_down", secs(r.heldUntil.Sub(now))
	}
	for src, rt := range r.routers {
		st.Routers = append(st.Routers, RouterStatus{Source: src.String(), LastRASeconds: secs(now.Sub(rt.at)),
			RouterLifetime: int(rt.msg.aged(now.Sub(rt.at)).RouterLifetime)})
	}
	slices.SortFunc(st.Routers, func(a, b RouterStatus) int { return strings.Compare(a.Source, b.Source) })
	for _, ls := range r.links {
		l := LinkStatus{Interface: ls.Name, Sent: ls.sent}
		if ls.heldUntil.After(now) {
			l.HeldDownSeconds = secs(ls.heldUntil.Sub(now))
		}
		st.Links = append(st.Links, l)
	}
	slices.SortFunc(st.Links, func(a, b LinkStatus) int { return strings.Compare(a.Interface, b.Interface) })
	return st
}
