package ra

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"time"
)

// A relay can also be a router of its own: for a WireGuard device that
// carries a prefix (OpenWrt's ip6assign on an interface stacked on it, or an
// address the admin put there), ndproxy originates the RAs that odhcpd or
// radvd cannot send there (no link-local, multicast reaches one peer at
// most). Everything else, the links, unicast fan-out, RS answers, timers and
// the goodbye with router lifetime 0, is the relay's.

// Advert is what an originating relay announces.
type Advert struct {
	// Prefixes are the prefixes on the device, each with the lifetimes its
	// address has left.
	Prefixes []AdvPrefix
	// DefaultRouter makes the hosts route everything through us; it is set
	// while this host has a default route of its own (as odhcpd decides).
	DefaultRouter bool
}

// AdvPrefix is one advertised prefix.
type AdvPrefix struct {
	Prefix netip.Prefix
	// ValidUntil and PreferredUntil are when the address the prefix comes
	// from runs out; zero is never.
	ValidUntil, PreferredUntil time.Time
}

const (
	// The longest prefix lifetimes advertised (RFC 9096 section 3:
	// ND_VALID_LIMIT and ND_PREFERRED_LIMIT), so that hosts stop using a
	// prefix soon after it is gone, even if no RA tells them.
	validLimit     = 5400 * time.Second
	preferredLimit = 2700 * time.Second
	// ownRouterLifetime is the router lifetime while DefaultRouter is set:
	// radvd's default, three times its longest interval.
	ownRouterLifetime = 1800
	// ownHopLimit is the hop limit the hosts are told to use.
	ownHopLimit = 64
)

// origin is the state of an originating relay.
type origin struct {
	adv Advert
	// withdrawn are prefixes advertised before and gone now, with when the
	// hosts' addresses in them run out: they are sent with a preferred
	// lifetime of 0 until then (RFC 9096 section 3.5), so that hosts stop
	// using them at once after a renumbering.
	withdrawn map[netip.Prefix]time.Time
}

// Originate makes r a router that announces a instead of relaying upstream
// RAs; a change of the prefixes or of the default router is sent at once,
// a change of lifetimes only with the next RA.
func (r *Relay) Originate(a Advert, now time.Time) {
	o := r.own
	if o == nil {
		o = &origin{withdrawn: map[netip.Prefix]time.Time{}}
		r.own = o
		for _, ls := range r.links {
			ls.next = now
		}
	}
	changed := o.adv.DefaultRouter != a.DefaultRouter || len(o.adv.Prefixes) != len(a.Prefixes)
	for _, old := range o.adv.Prefixes {
		if slices.ContainsFunc(a.Prefixes, func(p AdvPrefix) bool { return p.Prefix == old.Prefix }) {
			continue
		}
		changed = true
		// What the hosts were told last, counted from now: they keep
		// the addresses that long whatever we say (RFC 4862 section
		// 5.5.3 e), but stop preferring them.
		until := now.Add(validLimit)
		if !old.ValidUntil.IsZero() && old.ValidUntil.Before(until) {
			until = old.ValidUntil
		}
		if until.After(now) {
			o.withdrawn[old.Prefix] = until
		}
		r.log.Info("prefix gone from the device, hosts told to stop using it", "prefix", old.Prefix)
	}
	for _, p := range a.Prefixes {
		if !slices.ContainsFunc(o.adv.Prefixes, func(q AdvPrefix) bool { return q.Prefix == p.Prefix }) {
			changed = true
			delete(o.withdrawn, p.Prefix)
			r.log.Info("advertising prefix", "prefix", p.Prefix)
		}
	}
	o.adv = Advert{Prefixes: slices.Clone(a.Prefixes), DefaultRouter: a.DefaultRouter}
	if changed {
		for _, ls := range r.links {
			r.scheduleLocked(ls, now, true)
		}
	}
}

// advertising reports whether r has something to send: an upstream
// router's RA, or an advert of its own.
func (r *Relay) advertising() bool { return r.own != nil || len(r.routers) > 0 }

// originated is the RA r sends as a router of its own, as of now.
func (r *Relay) originated(now time.Time) Message {
	o := r.own
	m := Message{CurHopLimit: ownHopLimit}
	if o.adv.DefaultRouter {
		m.RouterLifetime = ownRouterLifetime
	}
	left := func(until time.Time, limit time.Duration) uint32 {
		if until.IsZero() {
			return uint32(limit / time.Second)
		}
		return uint32(min(max(until.Sub(now), 0), limit) / time.Second)
	}
	for _, p := range o.adv.Prefixes {
		valid := left(p.ValidUntil, validLimit)
		m.Options = append(m.Options, prefixOption(p.Prefix, valid, min(valid, left(p.PreferredUntil, preferredLimit))))
	}
	var gone []netip.Prefix
	for p, until := range o.withdrawn {
		if !until.After(now) {
			delete(o.withdrawn, p)
			continue
		}
		gone = append(gone, p)
	}
	slices.SortFunc(gone, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	for _, p := range gone {
		m.Options = append(m.Options, prefixOption(p, left(o.withdrawn[p], validLimit), 0))
	}
	return m
}

// prefixOption is a prefix information option (RFC 4861 section 4.6.2):
// on-link, since everything on a point-to-point link is, and autonomous
// when the prefix is a /64, the only length SLAAC forms addresses from.
func prefixOption(p netip.Prefix, valid, preferred uint32) Option {
	d := make([]byte, 30)
	d[0] = byte(p.Bits())
	d[1] = 0x80
	if p.Bits() == 64 {
		d[1] |= 0x40
	}
	binary.BigEndian.PutUint32(d[2:6], valid)
	binary.BigEndian.PutUint32(d[6:10], preferred)
	a := p.Masked().Addr().As16()
	copy(d[14:30], a[:])
	return Option{Type: optPrefix, Data: d}
}

// rewriteOwn fits an originated RA to link l: the link's MTU (a WireGuard
// device's is below Ethernet's, and path MTU discovery through a tunnel is
// fragile), the DNS servers configured, our link-layer address where the
// link has one. No proxy flag: this RA is ours.
func rewriteOwn(m Message, l Link, s Settings) Message {
	if l.MTU > 0 {
		d := make([]byte, 6)
		binary.BigEndian.PutUint32(d[2:6], uint32(l.MTU))
		m.Options = append([]Option{{Type: optMTU, Data: d}}, m.Options...)
	}
	out := rewrite(m, l, Settings{OnLink: true, DNS: s.DNS, Interval: s.Interval})
	out.Flags &^= FlagProxy
	return out
}
