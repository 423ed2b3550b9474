package proxy

import (
	"net/netip"

	"github.com/ndproxy/ndproxy/internal/plan"
)

// Owned targets (plan.Engine.Owned) are the allowed-ips of WireGuard peers:
// the planner already knows they live downstream, and a WireGuard device has
// no neighbour discovery to ask, so they are answered for without any
// verification, from the reader's fast path, for as long as the spec lists
// them. They never enter the core's state machine.

// ownedSet is an immutable view of the owned targets, part of an answerSet.
type ownedSet struct {
	hosts map[netip.Addr]bool
	// nets are owned prefixes longer than /64 but shorter than /128.
	nets []netip.Prefix
}

func newOwnedSet(owned []plan.Owned) ownedSet {
	s := ownedSet{hosts: make(map[netip.Addr]bool, len(owned))}
	for _, o := range owned {
		if o.Prefix.IsSingleIP() {
			s.hosts[o.Prefix.Addr()] = true
		} else {
			s.nets = append(s.nets, o.Prefix)
		}
	}
	return s
}

func (s *ownedSet) has(a netip.Addr) bool {
	if s.hosts[a] {
		return true
	}
	for _, p := range s.nets {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ownedLocked returns the answer set's view of the spec's owned targets and
// joins the solicited-node groups of new owned addresses on the upstream
// (leaving those of the ones gone), as for verified targets: a Wi-Fi access
// point forwards a group's solicitations only once someone reported it. e.mu
// is held.
func (e *Engine) ownedLocked() ownedSet {
	s := newOwnedSet(e.core.spec.Owned)
	for a := range e.ownedJoined {
		if !s.hosts[a] {
			e.leave(a)
			delete(e.ownedJoined, a)
		}
	}
	for a := range s.hosts {
		if !e.ownedJoined[a] {
			if e.ownedJoined == nil {
				e.ownedJoined = map[netip.Addr]bool{}
			}
			e.ownedJoined[a] = true
			e.join(a)
		}
	}
	return s
}

// leaveOwnedLocked leaves the groups ownedLocked joined; e.mu is held.
func (e *Engine) leaveOwnedLocked() {
	for a := range e.ownedJoined {
		e.leave(a)
	}
	e.ownedJoined = nil
}

// isWireGuard reports whether link is one of the spec's WireGuard
// downstreams. A route into one proves nothing (WireGuard drops what no
// peer's allowed-ips match), so verify auto must not take it as proof.
func isWireGuard(spec *plan.Engine, link int) bool {
	for _, l := range spec.WireGuard {
		if l.Index == link {
			return true
		}
	}
	return false
}
