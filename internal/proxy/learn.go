package proxy

import (
	"net/netip"
	"slices"
	"time"

	"github.com/ndproxy/ndproxy/internal/config"
	"github.com/ndproxy/ndproxy/internal/world"
)

// Learn tells the engine that a host uses addr on the downstream link: the
// RA relay saw its DAD probe, an NS or RS from it, or its NA. The host is
// verified by probe like any target, before anyone upstream asks for it,
// so its route is in place when the first answer to its traffic comes back.
func (e *Engine) Learn(addr netip.Addr, link int) {
	e.mu.Lock()
	e.core.learn(addr, link, time.Now())
	e.unlockWaking()
}

// learn starts verifying addr on link unless it is known already. A target
// found absent before is probed again: seeing the host is news (a host
// probed while its address was still tentative did not answer).
func (c *core) learn(addr netip.Addr, link int, now time.Time) {
	if c.spec.Proxy.Verify == config.VerifyStatic || !c.spec.Contains(addr) || c.local[addr] ||
		!slices.ContainsFunc(c.spec.Downstreams, func(l world.Link) bool { return l.Index == link }) {
		return
	}
	t := c.targets[addr]
	switch {
	case t == nil:
		if !c.roomForNew() || !c.budget.global.take(now) {
			return
		}
		t = c.add(addr, now)
	case t.state == stateAbsent:
		if !c.budget.global.take(now) {
			return
		}
		t.state, t.since = stateProbing, now
	default:
		return // being probed, or verified
	}
	c.stats.Learned++
	c.probe(t, []int{link}, now)
}
