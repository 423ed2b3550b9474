package ubus

import (
	"math/rand/v2"
	"time"
)

// backoff spaces out reconnection attempts: from min, doubling up to max,
// each wait jittered by ±25% so that clients restarted together by procd do
// not hammer a new ubusd in lockstep.
type backoff struct {
	min, max time.Duration
	next     time.Duration
}

func (b *backoff) wait() time.Duration {
	if b.min <= 0 {
		b.min = time.Millisecond // never spin
	}
	if b.next < b.min {
		b.next = b.min
	}
	d := b.next
	b.next = min(2*b.next, max(b.max, b.min))
	if q := int64(d / 4); q > 0 {
		d += time.Duration(rand.Int64N(2*q+1) - q)
	}
	return d
}
