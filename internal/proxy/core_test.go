package proxy

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/ndproxy/ndproxy/internal/config"
	"github.com/ndproxy/ndproxy/internal/plan"
	"github.com/ndproxy/ndproxy/internal/world"
)

// recorder is the core's outside world in tests: it records what the core
// asks for, and answers route lookups from a table.
type recorder struct {
	log    []string
	routes map[netip.Addr][2]int // link, direct (1) or on-link (0)
}

func (r *recorder) add(format string, args ...any) {
	r.log = append(r.log, fmt.Sprintf(format, args...))
}
func (r *recorder) sendNA(q requester, t netip.Addr) { r.add("na %s to %s", t, q.Src) }
func (r *recorder) sendProbe(t netip.Addr, link int) { r.add("probe %s on %d", t, link) }
func (r *recorder) join(t netip.Addr)                { r.add("join %s", t) }
func (r *recorder) leave(t netip.Addr)               { r.add("leave %s", t) }
func (r *recorder) verified(t plan.Target)           { r.add("verified %s on %d", t.Addr, t.LinkIndex) }
func (r *recorder) withdrawn(t netip.Addr)           { r.add("withdrawn %s", t) }
func (r *recorder) announce(netip.Addr, int, Source) {}
func (r *recorder) lookupRoute(t netip.Addr) (int, bool, bool) {
	v, ok := r.routes[t]
	return v[0], v[1] == 1, ok
}
func (r *recorder) take() []string { l := r.log; r.log = nil; return l }

var (
	t0      = time.Unix(1_000_000, 0)
	laptop  = netip.MustParseAddr("2001:db8:abc:123::99")
	ghost   = netip.MustParseAddr("2001:db8:abc:123:44::1")
	outside = netip.MustParseAddr("2001:db8:abc:123::5")
)

func testSpec(verify config.Verify) plan.Engine {
	return plan.Engine{
		Proxy: config.Proxy{
			Name: "island", Upstream: "wlan0", Downstream: []string{"eth0"},
			Prefixes: []netip.Prefix{netip.MustParsePrefix("2001:db8:abc:123:40::/76")},
			Verify:   verify, Route: config.RouteHost, Override: true,
			ValidTTL: 30 * time.Second, InvalidTTL: 10 * time.Second,
			ProbeTimeout: 500 * time.Millisecond, ProbeRetries: 3,
		},
		Prefixes:    []netip.Prefix{netip.MustParsePrefix("2001:db8:abc:123:40::/76")},
		Upstream:    world.Link{Index: 2, Name: "wlan0"},
		Source:      routerLL,
		Downstreams: []world.Link{{Index: 3, Name: "eth0"}},
		Local:       []netip.Addr{netip.MustParseAddr("2001:db8:abc:123:40::1")},
	}
}

func ns(src, target netip.Addr) solicitation {
	return solicitation{Src: src, Dst: solicitedNode(target), Target: target}
}

func want(t *testing.T, r *recorder, step string, wantLog ...string) {
	t.Helper()
	got := r.take()
	if !slices.Equal(got, wantLog) {
		t.Fatalf("%s:\n got  %q\n want %q", step, got, wantLog)
	}
}

func TestCoreProbeVerifyAnswerRefresh(t *testing.T) {
	r := &recorder{}
	c := newCore(testSpec(config.VerifyProbe), r)

	c.handleNS(ns(laptop, pi41), nil, t0)
	want(t, r, "first NS probes downstream", "probe 2001:db8:abc:123:41::1 on 3")
	c.handleNS(ns(laptop, pi41), nil, t0.Add(time.Millisecond))
	want(t, r, "a repeated NS while probing waits")

	c.handleNA(pi41, 2, t0.Add(2*time.Millisecond))
	want(t, r, "an NA on the upstream does not verify")
	c.handleNA(pi41, 3, t0.Add(2*time.Millisecond))
	want(t, r, "NA verifies, answers the waiting asker once, joins the group",
		"verified 2001:db8:abc:123:41::1 on 3", "na 2001:db8:abc:123:41::1 to 2001:db8:abc:123::99", "join 2001:db8:abc:123:41::1")

	c.handleNS(solicitation{Src: routerLL, Dst: pi41, Target: pi41}, nil, t0.Add(time.Second))
	want(t, r, "unicast NUD answered from the cache", "na 2001:db8:abc:123:41::1 to fe80::1")
	if got := c.valid(); len(got) != 1 || got[0].Addr != pi41 || got[0].LinkIndex != 3 {
		t.Fatalf("valid = %+v", got)
	}

	next := c.handleTimers(t0.Add(10 * time.Second))
	want(t, r, "nothing due before valid_ttl")
	if !next.Equal(t0.Add(2*time.Millisecond + 30*time.Second)) {
		t.Fatalf("next timer %v", next.Sub(t0))
	}
	c.handleTimers(next)
	want(t, r, "valid_ttl re-verifies on the link it was found on", "probe 2001:db8:abc:123:41::1 on 3")
	c.handleNS(ns(laptop, pi41), nil, next.Add(time.Millisecond))
	want(t, r, "still answered while refreshing", "na 2001:db8:abc:123:41::1 to 2001:db8:abc:123::99")
	c.handleNA(pi41, 3, next.Add(3*time.Millisecond))
	want(t, r, "a refresh changes nothing outside")
}

func TestCoreSwitchedOffHostIsDropped(t *testing.T) {
	r := &recorder{}
	c := newCore(testSpec(config.VerifyProbe), r)
	c.handleNS(ns(laptop, pi41), nil, t0)
	c.handleNA(pi41, 3, t0)
	r.take()

	now := c.handleTimers(t0.Add(30 * time.Second))
	want(t, r, "refresh", "probe 2001:db8:abc:123:41::1 on 3")
	for i := 0; i < 2; i++ {
		now = c.handleTimers(now)
		want(t, r, "retry", "probe 2001:db8:abc:123:41::1 on 3")
	}
	now = c.handleTimers(now)
	want(t, r, "after the retries the host is gone", "leave 2001:db8:abc:123:41::1", "withdrawn 2001:db8:abc:123:41::1")
	if len(c.valid()) != 0 {
		t.Fatalf("still valid: %+v", c.valid())
	}
	c.handleNS(ns(laptop, pi41), nil, now.Add(time.Second))
	want(t, r, "an absent host is neither answered nor probed again at once")
	if c.stats.Ignored["absent"] != 1 {
		t.Fatalf("ignored = %v", c.stats.Ignored)
	}
	c.handleTimers(now.Add(10 * time.Second))
	c.handleNS(ns(laptop, pi41), nil, now.Add(10*time.Second))
	want(t, r, "after invalid_ttl it is probed again", "probe 2001:db8:abc:123:41::1 on 3")
}

func TestCoreNeverAnswersUnverified(t *testing.T) {
	r := &recorder{}
	c := newCore(testSpec(config.VerifyProbe), r)
	c.handleNS(ns(laptop, ghost), nil, t0)
	now := t0
	for i := 0; i < 4; i++ {
		now = c.handleTimers(now)
	}
	got := r.take()
	if slices.ContainsFunc(got, func(s string) bool { return s[:2] == "na" }) {
		t.Fatalf("answered for a host that never replied: %q", got)
	}
	if c.stats.Ignored["unverified"] != 1 || c.stats.ProbesSent != 3 {
		t.Fatalf("stats = %+v", c.stats)
	}
	c.handleNS(ns(laptop, outside), nil, now)
	c.handleNS(ns(laptop, netip.MustParseAddr("2001:db8:abc:123:40::1")), nil, now)
	want(t, r, "addresses outside the prefixes and our own are left to others")
}

func TestCoreDADIsDefendedForVerifiedTargets(t *testing.T) {
	r := &recorder{}
	c := newCore(testSpec(config.VerifyProbe), r)
	c.handleNS(ns(laptop, pi41), nil, t0)
	c.handleNA(pi41, 3, t0)
	r.take()
	c.handleNS(ns(netip.IPv6Unspecified(), pi41), nil, t0)
	want(t, r, "DAD answered", "na 2001:db8:abc:123:41::1 to ::")
}

func TestCoreStaticAnswersEverythingInPrefix(t *testing.T) {
	r := &recorder{}
	c := newCore(testSpec(config.VerifyStatic), r)
	c.handleNS(ns(laptop, ghost), nil, t0)
	c.handleNS(ns(laptop, outside), nil, t0)
	want(t, r, "static", "na 2001:db8:abc:123:44::1 to 2001:db8:abc:123::99")
}

func TestCoreAutoUsesTheRoutingTable(t *testing.T) {
	routed := netip.MustParseAddr("2001:db8:abc:123:42::1")
	back := netip.MustParseAddr("2001:db8:abc:123:43::1")
	r := &recorder{routes: map[netip.Addr][2]int{
		pi41:   {3, 0}, // on-link on eth0: probe there
		routed: {7, 1}, // through a gateway: the route is the proof
		back:   {2, 0}, // towards the upstream: never
	}}
	spec := testSpec(config.VerifyAuto)
	spec.Downstreams = nil
	c := newCore(spec, r)
	c.handleNS(ns(laptop, pi41), nil, t0)
	c.handleNS(ns(laptop, routed), nil, t0)
	c.handleNS(ns(laptop, back), nil, t0)
	c.handleNS(ns(laptop, ghost), nil, t0)
	want(t, r, "auto",
		"probe 2001:db8:abc:123:41::1 on 3",
		"verified 2001:db8:abc:123:42::1 on 7", "na 2001:db8:abc:123:42::1 to 2001:db8:abc:123::99", "join 2001:db8:abc:123:42::1")
}

func TestCoreHints(t *testing.T) {
	r := &recorder{}
	c := newCore(testSpec(config.VerifyProbe), r)
	spec := testSpec(config.VerifyProbe)
	spec.Hints = []plan.Hint{{Addr: pi41, LinkIndex: 3}, {Addr: ghost, LinkIndex: 3}}
	c.update(spec, t0)
	want(t, r, "neighbour-cache entries are probed, even reachable ones: the kernel keeps them for a while after the host is gone",
		"probe 2001:db8:abc:123:41::1 on 3", "probe 2001:db8:abc:123:44::1 on 3")
	c.update(spec, t0.Add(time.Millisecond))
	want(t, r, "known hints are not acted on twice")
	c.handleNA(pi41, 3, t0.Add(2*time.Millisecond))
	want(t, r, "the probe verifies", "verified 2001:db8:abc:123:41::1 on 3", "join 2001:db8:abc:123:41::1")
}

// addrN returns the n-th address of 2001:db8:abc:123:4f::/80, inside the
// island's prefix.
func addrN(n int) netip.Addr {
	a := netip.MustParseAddr("2001:db8:abc:123:4f::").As16()
	a[12], a[13], a[14], a[15] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
	return netip.AddrFrom16(a)
}

func TestCoreFloodIsBounded(t *testing.T) {
	r := &recorder{}
	c := newCore(testSpec(config.VerifyProbe), r)
	c.handleNS(ns(laptop, pi41), nil, t0)
	c.handleNA(pi41, 3, t0)
	r.take()

	// One second of 50,000 solicitations for random targets from 1,000
	// askers, with the real host asked for every 100 ms.
	now := t0
	answered := 0
	for i := 0; i < 50_000; i++ {
		now = now.Add(20 * time.Microsecond)
		src := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 14: byte(i % 1000 >> 8), 15: byte(i % 1000)})
		c.handleNS(ns(src, addrN(i)), nil, now)
		if i%5000 == 0 {
			c.handleNS(ns(laptop, pi41), nil, now)
			answered++
		}
		c.handleTimers(now)
	}
	var probes, nas int
	for _, l := range r.take() {
		switch l[:2] {
		case "pr":
			probes++
		case "na":
			nas++
		}
	}
	if nas != answered {
		t.Errorf("the real host was answered %d times of %d during the flood", nas, answered)
	}
	// New targets: the global burst plus one second of the global rate;
	// each gets at most two probes within the second (probe_timeout 500ms).
	if max := 2 * (probeBurst + probeRate); probes > max {
		t.Errorf("%d probes sent downstream for 50,000 flood solicitations, want at most %d", probes, max)
	}
	if unverified := len(c.targets) - c.nValid; unverified > maxUnverified {
		t.Errorf("%d unverified targets, want at most %d", unverified, maxUnverified)
	}
	if c.stats.Ignored["rate_limited"] == 0 {
		t.Errorf("nothing rate limited: %v", c.stats.Ignored)
	}
	if got := c.valid(); len(got) != 1 || got[0].Addr != pi41 {
		t.Errorf("valid = %v, want the real host only", got)
	}
}

func TestCoreOneAskerCannotDrainTheBudget(t *testing.T) {
	r := &recorder{}
	c := newCore(testSpec(config.VerifyProbe), r)
	for i := 0; i < 1000; i++ {
		c.handleNS(ns(laptop, addrN(i)), nil, t0.Add(time.Duration(i)*time.Millisecond))
	}
	if got := int(c.stats.ProbesSent); got > sourceBurst+sourceRate {
		t.Errorf("one asker had %d targets probed in a second, want at most %d", got, sourceBurst+sourceRate)
	}
	r.take()
	other := netip.MustParseAddr("2001:db8:abc:123::7")
	c.handleNS(ns(other, pi41), nil, t0.Add(time.Second))
	want(t, r, "another asker still gets its target probed", "probe 2001:db8:abc:123:41::1 on 3")
}

func TestCoreNegativeCacheEvictsOldest(t *testing.T) {
	r := &recorder{}
	spec := testSpec(config.VerifyProbe)
	spec.Proxy.ProbeRetries = 1
	c := newCore(spec, r)
	now := t0
	// Fill the negative cache, spreading askers and time so no bucket runs dry.
	for i := 0; i < maxUnverified; i++ {
		now = now.Add(10 * time.Millisecond)
		src := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 14: byte(i >> 8), 15: byte(i)})
		c.handleNS(ns(src, addrN(i)), nil, now)
	}
	now = now.Add(time.Second)
	c.handleTimers(now) // every probe has failed
	if n := len(c.targets); n != maxUnverified {
		t.Fatalf("%d targets, want %d absent", n, maxUnverified)
	}
	r.take()
	c.handleNS(ns(laptop, pi41), nil, now)
	want(t, r, "a new target gets room", "probe 2001:db8:abc:123:41::1 on 3")
	if c.stats.Evicted != 1 || c.targets[addrN(0)] != nil {
		t.Fatalf("evicted %d; the oldest absent target still there: %v", c.stats.Evicted, c.targets[addrN(0)] != nil)
	}
}

// TestTargetSet checks the readers' set of verified targets: what the core
// adds is answered, what it removes is not, while readers look on.
func TestTargetSet(t *testing.T) {
	var s targetSet
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 1000 {
			s.has(pi41)
		}
	}()
	s.add(pi41)
	s.add(ghost)
	s.remove(ghost)
	<-done
	for _, tt := range []struct {
		target netip.Addr
		want   bool
	}{{pi41, true}, {ghost, false}, {outside, false}} {
		if got := s.has(tt.target); got != tt.want {
			t.Errorf("has(%s) = %v, want %v", tt.target, got, tt.want)
		}
	}
}

func TestAnswerSet(t *testing.T) {
	local := netip.MustParseAddr("2001:db8:abc:123:40::1")
	prefixes := []netip.Prefix{netip.MustParsePrefix("2001:db8:abc:123:40::/76")}
	verified := &answerSet{prefixes: prefixes, local: map[netip.Addr]bool{local: true}}
	static := &answerSet{static: true, prefixes: prefixes, local: map[netip.Addr]bool{local: true}}
	for _, tt := range []struct {
		set    *answerSet
		target netip.Addr
		want   bool
	}{
		{verified, ghost, false}, // in the prefix, not verified: the run loop decides
		{static, ghost, true},
		{static, local, false}, // the kernel answers for the host's own
		{static, outside, false},
	} {
		if got := tt.set.answers(tt.target); got != tt.want {
			t.Errorf("static=%v answers(%s) = %v, want %v", tt.set.static, tt.target, got, tt.want)
		}
	}
}

func TestCoreAskedAgainDuringAFlood(t *testing.T) {
	r := &recorder{}
	c := newCore(testSpec(config.VerifyProbe), r)
	router := netip.MustParseAddr("fe80::1")
	// The upstream router asks for scanned addresses until the budget is spent.
	now := t0
	for i := 0; i < 1000; i++ {
		c.handleNS(ns(router, addrN(i)), nil, now)
	}
	r.take()
	c.handleNS(ns(router, pi41), nil, now)
	want(t, r, "a new host asked for once during the flood is turned away")
	// The router retransmits a second later, the flood still on.
	now = now.Add(time.Second)
	for i := 1000; i < 2000; i++ {
		c.handleNS(ns(router, addrN(i)), nil, now)
	}
	r.take()
	c.handleNS(ns(router, pi41), nil, now)
	want(t, r, "asked again, it is probed", "probe 2001:db8:abc:123:41::1 on 3")
	c.handleNA(pi41, 3, now.Add(time.Millisecond))
	want(t, r, "and answered", "verified 2001:db8:abc:123:41::1 on 3", "na 2001:db8:abc:123:41::1 to fe80::1", "join 2001:db8:abc:123:41::1")
}

// TestCoreRouteBeforeAnswerUnlessRouted: the host route of a new target goes
// in before its asker is answered, unless a route already sends the whole
// prefix to the link the target answered on; then the answer goes first.
func TestCoreRouteBeforeAnswerUnlessRouted(t *testing.T) {
	prefix := netip.MustParsePrefix("2001:db8:abc:123:40::/76")
	for _, tc := range []struct {
		name   string
		routed []routedPrefix
		route  config.RouteMode
		want   []string
	}{
		{"shadowed by the upstream's /64", nil, config.RouteHost,
			[]string{"verified 2001:db8:abc:123:41::1 on 3", "na 2001:db8:abc:123:41::1 to 2001:db8:abc:123::99", "join 2001:db8:abc:123:41::1"}},
		{"prefix routed to another link", []routedPrefix{{prefix, 4}}, config.RouteHost,
			[]string{"verified 2001:db8:abc:123:41::1 on 3", "na 2001:db8:abc:123:41::1 to 2001:db8:abc:123::99", "join 2001:db8:abc:123:41::1"}},
		{"prefix routed to this link", []routedPrefix{{prefix, 3}}, config.RouteHost,
			[]string{"na 2001:db8:abc:123:41::1 to 2001:db8:abc:123::99", "verified 2001:db8:abc:123:41::1 on 3", "join 2001:db8:abc:123:41::1"}},
		{"no host routes wanted", nil, config.RouteNone,
			[]string{"na 2001:db8:abc:123:41::1 to 2001:db8:abc:123::99", "verified 2001:db8:abc:123:41::1 on 3", "join 2001:db8:abc:123:41::1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &recorder{}
			spec := testSpec(config.VerifyProbe)
			spec.Proxy.Route = tc.route
			c := newCore(spec, r)
			c.routed = tc.routed
			c.handleNS(ns(laptop, pi41), nil, t0)
			r.take()
			c.handleNA(pi41, 3, t0.Add(time.Millisecond))
			want(t, r, "verified", tc.want...)
		})
	}
}
