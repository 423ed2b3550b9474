package proxy

import (
	"net/netip"
	"time"
)

// bucket is a token bucket: rate tokens a second, at most burst kept.
type bucket struct {
	rate, burst float64
	tokens      float64
	last        time.Time
}

func newBucket(rate, burst float64) bucket {
	return bucket{rate: rate, burst: burst, tokens: burst}
}

// take spends one token if there is one.
func (b *bucket) take(now time.Time) bool {
	if !b.last.IsZero() {
		b.tokens += now.Sub(b.last).Seconds() * b.rate
		if b.tokens > b.burst {
			b.tokens = b.burst
		}
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// probeBudget decides whether a solicitation for a target nobody verified
// yet may cost a probe on the downstream link. A flood of solicitations for
// random addresses must not become a flood of probes downstream (pndpd
// repeats every one), so new targets are paid for from a global bucket and one
// per asker. Refreshing targets that are already verified does not come out
// of this budget: known hosts keep priority over new ones (RFC 6583 section 7).
type probeBudget struct {
	global  bucket
	sources map[netip.Addr]*bucket
	// turnedAway remembers targets refused a probe; a second solicitation
	// for one of them is paid from retried. A scan or flood asks for each
	// address once, while a router whose first solicitation went unanswered
	// asks again a second later (RFC 4861 section 7.2.2,
	// MAX_MULTICAST_SOLICIT 3): so a real new host still gets verified while
	// the budget for first asks is spent.
	turnedAway recent
	retried    bucket
	// listened pays first for targets whose solicited-node group a host
	// downstream reported (mld.go), whoever asks: the upstream router
	// asks for a flood and for a new host alike, and a per-asker budget
	// spent on the flood would turn the host away.
	listened bucket
}

const (
	// New targets probed per second, all askers together, and the burst.
	probeRate, probeBurst = 200, 100
	// New targets probed per second for one asker, and the burst.
	sourceRate, sourceBurst = 20, 20
	// maxSources bounds the per-asker buckets; past it they are forgotten
	// and start afresh, the global bucket still bounding the total.
	maxSources = 4096
	// Targets asked for again after being turned away: per second, burst;
	// and how many turned-away targets are remembered.
	retryRate, retryBurst = 20, 20
	maxTurnedAway         = 4096
	// Targets whose group was reported downstream: per second, burst. A
	// flood rarely hits a reported group, so this is spent on real hosts.
	listenedRate, listenedBurst = 50, 50
)

func newProbeBudget() probeBudget {
	return probeBudget{
		global:     newBucket(probeRate, probeBurst),
		sources:    map[netip.Addr]*bucket{},
		turnedAway: newRecent(maxTurnedAway),
		retried:    newBucket(retryRate, retryBurst),
		listened:   newBucket(listenedRate, listenedBurst),
	}
}

// allow reports whether src may have one more target probed. A target
// whose group was reported downstream (listened) is paid from its own
// bucket while it lasts. Then the asker's bucket is checked, so that one
// noisy asker does not drain the global bucket for everyone else.
func (p *probeBudget) allow(src, target netip.Addr, listened bool, now time.Time) bool {
	if listened && p.listened.take(now) {
		return true
	}
	if p.allowFirst(src, now) {
		return true
	}
	if p.turnedAway.has(target) {
		return p.retried.take(now)
	}
	p.turnedAway.add(target)
	return false
}

func (p *probeBudget) allowFirst(src netip.Addr, now time.Time) bool {
	b := p.sources[src]
	if b == nil {
		if len(p.sources) >= maxSources {
			clear(p.sources)
		}
		nb := newBucket(sourceRate, sourceBurst)
		b = &nb
		p.sources[src] = b
	}
	return b.take(now) && p.global.take(now)
}

// recent is a set of the last n addresses added.
type recent struct {
	set  map[netip.Addr]bool
	ring []netip.Addr
	next int
}

func newRecent(n int) recent {
	return recent{set: make(map[netip.Addr]bool, n), ring: make([]netip.Addr, n)}
}

func (r *recent) has(a netip.Addr) bool { return r.set[a] }

func (r *recent) add(a netip.Addr) {
	if r.set[a] {
		return
	}
	if old := r.ring[r.next]; old.IsValid() {
		delete(r.set, old)
	}
	r.ring[r.next] = a
	r.set[a] = true
	r.next = (r.next + 1) % len(r.ring)
}
