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
}

const (
	// New targets probed per second, all askers together, and the burst.
	probeRate, probeBurst = 200, 100
	// New targets probed per second for one asker, and the burst.
	sourceRate, sourceBurst = 20, 20
	// maxSources bounds the per-asker buckets; past it they are forgotten
	// and start afresh, the global bucket still bounding the total.
	maxSources = 4096
)

func newProbeBudget() probeBudget {
	return probeBudget{global: newBucket(probeRate, probeBurst), sources: map[netip.Addr]*bucket{}}
}

// allow reports whether src may have one more target probed. The asker's
// bucket is checked first, so that one noisy asker does not drain the global
// bucket for everyone else.
func (p *probeBudget) allow(src netip.Addr, now time.Time) bool {
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
