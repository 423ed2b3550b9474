package bench

import (
	"math/rand/v2"
	"net/netip"
)

// The lab's addresses, laid out as in scenario S1: the upstream's on-link /64,
// of which a /76 lives on the island behind gw and is proxied.
var (
	upstreamNet = netip.MustParsePrefix("2001:db8:be:1::/64")
	proxied     = netip.MustParsePrefix("2001:db8:be:1:40::/76")
	// asker is the address of up, the upstream router whose solicitations
	// the proxies answer.
	asker  = netip.MustParsePrefix("2001:db8:be:1::1/64")
	gwUp   = netip.MustParsePrefix("2001:db8:be:1::2/64")
	island = [2]netip.Prefix{ // gw and dn on the island's own link
		netip.MustParsePrefix("fd00:be::1/64"),
		netip.MustParsePrefix("fd00:be::2/64"),
	}
)

// The fifth 16-bit group of a target inside proxied (0x40 to 0x4f) says
// what it is for, so that the kernel's socket filters can tell answers apart
// without this process reading them all.
const (
	// groupTimed holds real targets whose answers are read and timed.
	groupTimed = 0x41
	// groupBulk holds real targets whose answers are only counted.
	groupBulk = 0x42
	// Flood targets use the groups from groupFlood to 0x4f.
	groupFlood = 0x43
)

// realTarget returns 2001:db8:be:1:<group>::<n>, an address of the island
// host (n from 1 to 255).
func realTarget(group uint16, n int) netip.Addr {
	if n < 1 || n > 255 {
		panic("realTarget: n out of range")
	}
	a := proxied.Addr().As16()
	a[8], a[9] = byte(group>>8), byte(group)
	a[15] = byte(n)
	return netip.AddrFrom16(a)
}

// floodTarget returns a random address inside proxied that no host has,
// outside the groups of real targets. About one in 16 has a last byte whose
// low four bits are zero: the island link samples those (sampleMask) to see
// how often each is probed.
func floodTarget(r *rand.Rand) netip.Addr {
	a := proxied.Addr().As16()
	a[8], a[9] = 0, byte(groupFlood+r.IntN(0x50-groupFlood))
	v := r.Uint64()
	for i := 10; i < 16; i++ {
		a[i] = byte(v >> (8 * (i - 10)))
	}
	return netip.AddrFrom16(a)
}

// Byte offsets inside a target for the socket filters.
const (
	targetGroupOff = 8  // the fifth 16-bit group
	targetLastOff  = 15 // the last byte
	// sampleMask selects the flood targets whose probes are read: those
	// whose last byte has none of these bits.
	sampleMask = 0x0f
)

// The real targets, by use. Every proxy starts with all of them cold.
var (
	// readyTarget is asked until the proxy answers: the proxy is up.
	readyTarget = realTarget(groupTimed, 1)
	// warmTargets are timed once warm; the first ten are the real host
	// resolved every 100 ms during floods.
	warmTargets = timedRange(2, 16)
	// coldTargets are each asked once, for the first-resolution latency.
	coldTargets = timedRange(20, 100)
	// freshTargets are asked for the first time during floods, eight per
	// flood step.
	freshTargets = timedRange(120, 24)
	bulkTargets  = bulkRange(1, 16)
)

func timedRange(first, n int) []netip.Addr {
	out := make([]netip.Addr, n)
	for i := range out {
		out[i] = realTarget(groupTimed, first+i)
	}
	return out
}

func bulkRange(first, n int) []netip.Addr {
	out := make([]netip.Addr, n)
	for i := range out {
		out[i] = realTarget(groupBulk, first+i)
	}
	return out
}

// allReal lists every address of the island host inside proxied.
func allReal() []netip.Addr {
	out := []netip.Addr{readyTarget}
	for _, s := range [][]netip.Addr{warmTargets, coldTargets, freshTargets, bulkTargets} {
		out = append(out, s...)
	}
	return out
}
