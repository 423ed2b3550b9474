package ra

import (
	"io"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/ndproxy/ndproxy/internal/icmp6"
)

// recorder is the relay's effects in tests.
type recorder struct {
	sent      []sent
	solicited int
}

type sent struct {
	link string
	m    Message
}

func (r *recorder) send(l Link, b []byte) {
	m, why := ParseRA(b)
	if why != "" {
		panic("relay sent an RA that does not parse: " + why)
	}
	r.sent = append(r.sent, sent{l.Name, m})
}
func (r *recorder) solicit() { r.solicited++ }

func (r *recorder) take() []sent {
	s := r.sent
	r.sent = nil
	return s
}

var (
	t0       = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	upRouter = netip.MustParseAddr("fe80::1")
	links    = []Link{{Index: 3, Name: "eth0", MAC: downMAC, MTU: 1500}, {Index: 4, Name: "eth1", MAC: downMAC, MTU: 1400}}
)

const upIndex = 2

func newTestRelay(t *testing.T) (*Relay, *recorder) {
	rec := &recorder{}
	r := New(Settings{Interval: 60 * time.Second, HoldDown: 10 * time.Minute}, links,
		slog.New(slog.NewTextHandler(io.Discard, nil)), rec, func(d time.Duration) time.Duration { return d / 2 })
	return r, rec
}

func TestRelayForwardsAndRepeats(t *testing.T) {
	r, rec := newTestRelay(t)
	if next := r.Tick(t0); !next.IsZero() || len(rec.sent) > 0 {
		t.Fatalf("sent %v or wants a wakeup at %v before any upstream RA", rec.sent, next)
	}
	m, _ := ParseRA(upstreamRA(t))
	r.HandleRA(m, upRouter, upIndex, true, t0)
	r.Tick(t0)
	got := rec.take()
	if len(got) != 2 {
		t.Fatalf("sent %d RAs, want one per downstream", len(got))
	}
	for _, s := range got {
		if s.m.Flags&FlagProxy == 0 {
			t.Errorf("%s: no P flag", s.link)
		}
	}
	// The unsolicited timer: between Interval/3 and Interval, with
	// lifetimes counted down.
	next := r.Tick(t0.Add(time.Second))
	if want := t0.Add(20*time.Second + 20*time.Second); !next.Equal(want) {
		t.Errorf("next wakeup %v, want %v", next.Sub(t0), want.Sub(t0))
	}
	r.Tick(next)
	got = rec.take()
	if len(got) != 2 || got[0].m.RouterLifetime != 1800-40 {
		t.Fatalf("unsolicited RAs %+v, want 2 with router lifetime 1760", got)
	}
	// The same RA again within 3 s is not relayed at once (MIN_DELAY_BETWEEN_RAS).
	r.HandleRA(m, upRouter, upIndex, true, next.Add(time.Second))
	r.Tick(next.Add(time.Second))
	if got := rec.take(); len(got) != 0 {
		t.Errorf("relayed again within 3 s: %d", len(got))
	}
	r.Tick(next.Add(3 * time.Second))
	if got := rec.take(); len(got) != 2 || got[0].m.RouterLifetime != 1798 {
		t.Errorf("after 3 s: %+v, want 2 counted down from the last upstream RA", got)
	}
}

func TestRelayAnswersRS(t *testing.T) {
	r, rec := newTestRelay(t)
	r.HandleRS(3, t0)
	if rec.solicited != 1 {
		t.Errorf("RS forwarded upstream %d times, want 1", rec.solicited)
	}
	r.Tick(t0.Add(time.Second))
	if len(rec.take()) != 0 {
		t.Error("answered an RS with nothing to relay")
	}
	m, _ := ParseRA(upstreamRA(t))
	r.HandleRA(m, upRouter, upIndex, true, t0.Add(time.Second))
	r.Tick(t0.Add(time.Second))
	rec.take()
	r.Tick(t0.Add(41 * time.Second)) // the unsolicited ones
	rec.take()
	// An RS on eth0 is answered within 500 ms, from the cache, counted
	// down; the upstream is asked again.
	at := t0.Add(60 * time.Second)
	r.HandleRS(3, at)
	next := r.Tick(at)
	if next.Sub(at) > maxRSDelay {
		t.Fatalf("RS answered in %v", next.Sub(at))
	}
	r.Tick(next)
	got := rec.take()
	if len(got) != 1 || got[0].link != "eth0" || got[0].m.RouterLifetime != 1741 {
		t.Fatalf("RS answer %+v, want one on eth0 with router lifetime 1741", got)
	}
	if rec.solicited != 2 {
		t.Errorf("RS forwarded upstream %d times, want 2", rec.solicited)
	}
	// A storm of RSs is not passed upstream.
	for i := 0; i < 10; i++ {
		r.HandleRS(3, at.Add(time.Duration(i)*100*time.Millisecond))
	}
	if rec.solicited != 2 {
		t.Errorf("RS storm forwarded %d times", rec.solicited-2)
	}
}

func TestRelayLoopGuard(t *testing.T) {
	r, rec := newTestRelay(t)
	m, _ := ParseRA(upstreamRA(t))
	proxied := m
	proxied.Flags |= FlagProxy
	r.HandleRA(proxied, upRouter, upIndex, true, t0)
	r.HandleRA(m, upRouter, upIndex, true, t0.Add(time.Second))
	r.Tick(t0.Add(time.Second))
	if got := rec.take(); len(got) != 0 {
		t.Fatalf("relayed %d RAs during the hold-down", len(got))
	}
	if st := r.Status(t0.Add(time.Second)); st.State != "held_down" || st.Counters.Loops != 1 || st.Counters.Dropped[DropHeldDown] != 1 {
		t.Errorf("status %+v", st)
	}
	// After the hold-down relaying resumes.
	after := t0.Add(10*time.Minute + time.Second)
	r.Tick(after)
	r.HandleRA(m, upRouter, upIndex, true, after)
	r.Tick(after)
	if got := rec.take(); len(got) != 2 {
		t.Fatalf("after the hold-down: %d RAs, want 2", len(got))
	}
	// An RA on eth1 holds eth1 down, eth0 goes on.
	r.HandleRA(m, netip.MustParseAddr("fe80::99"), 4, false, after.Add(time.Minute))
	r.HandleRA(m, upRouter, upIndex, true, after.Add(2*time.Minute))
	r.Tick(after.Add(2 * time.Minute))
	got := rec.take()
	if len(got) != 1 || got[0].link != "eth0" {
		t.Errorf("with eth1 held down: %+v, want one RA on eth0", got)
	}
	st := r.Status(after.Add(2 * time.Minute))
	if st.Links[1].Interface != "eth1" || st.Links[1].HeldDownSeconds != 540 {
		t.Errorf("link status %+v", st.Links)
	}
}

func TestRelayLifetimeZero(t *testing.T) {
	r, rec := newTestRelay(t)
	m, _ := ParseRA(upstreamRA(t))
	m.RouterLifetime = 90
	r.HandleRA(m, upRouter, upIndex, true, t0)
	next := r.Tick(t0)
	rec.take()
	// The upstream goes silent: at 90 s the hosts hear lifetime 0.
	for i := 0; i < 10 && next.Before(t0.Add(90*time.Second)); i++ {
		next = r.Tick(next)
	}
	if !next.Equal(t0.Add(90 * time.Second)) {
		t.Fatalf("no wakeup at the router lifetime's end: %v", next.Sub(t0))
	}
	rec.take()
	r.Tick(next)
	got := rec.take()
	if len(got) != 2 || got[0].m.RouterLifetime != 0 {
		t.Fatalf("at expiry: %+v, want lifetime 0 on both links", got)
	}
	// The upstream link goes away: lifetime 0 at once, then silence.
	r, rec = newTestRelay(t)
	r.HandleRA(m, upRouter, upIndex, true, t0)
	r.Tick(t0)
	rec.take()
	r.UpstreamGone(t0.Add(time.Second))
	got = rec.take()
	if len(got) != 2 || got[0].m.RouterLifetime != 0 || got[1].m.RouterLifetime != 0 {
		t.Fatalf("upstream gone: %+v, want lifetime 0 on both links", got)
	}
	if next := r.Tick(t0.Add(time.Hour)); !next.IsZero() || len(rec.sent) > 0 || r.Status(t0).State != "waiting" {
		t.Errorf("after the upstream went away: next %v, sent %d", next, len(rec.sent))
	}
}

func TestRelayLinksChange(t *testing.T) {
	r, rec := newTestRelay(t)
	m, _ := ParseRA(upstreamRA(t))
	r.HandleRA(m, upRouter, upIndex, true, t0)
	r.Tick(t0)
	rec.take()
	r.SetLinks(append(links, Link{Index: 5, Name: "wg0", MTU: 1420, Unicast: []netip.Addr{netip.MustParseAddr("fe80::2")}}), t0.Add(time.Second))
	r.Tick(t0.Add(time.Second))
	got := rec.take()
	if len(got) != 1 || got[0].link != "wg0" {
		t.Fatalf("new link: %+v, want an RA on wg0 at once", got)
	}
}

func FuzzParseSighting(f *testing.F) {
	// A DAD probe for 2001:db8::1 and an NS from it, as the kernel sends them.
	dad := ndPacket(netip.IPv6Unspecified(), netip.MustParseAddr("ff02::1:ff00:1"), icmp6.TypeNS, netip.MustParseAddr("2001:db8::1"))
	f.Add(dad)
	f.Add(ndPacket(netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("ff02::1:ff00:2"), icmp6.TypeNS, netip.MustParseAddr("2001:db8::2")))
	f.Add(ndPacket(netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("ff02::2"), icmp6.TypeRS, netip.Addr{}))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, ok := parseSighting(b)
		if !ok {
			return
		}
		if !s.Addr.IsGlobalUnicast() || s.Addr.IsLinkLocalUnicast() {
			t.Fatalf("learned %s, not a global address", s.Addr)
		}
		if b[7] != 255 {
			t.Fatal("learned from a packet with hop limit below 255")
		}
	})
}

func TestParseSighting(t *testing.T) {
	host := netip.MustParseAddr("2001:db8::1")
	for _, tc := range []struct {
		name string
		b    []byte
		want sighting
		ok   bool
	}{
		{"DAD", ndPacket(netip.IPv6Unspecified(), netip.MustParseAddr("ff02::1:ff00:1"), icmp6.TypeNS, host), sighting{host, true}, true},
		{"NS", ndPacket(host, netip.MustParseAddr("ff02::1:ff00:2"), icmp6.TypeNS, netip.MustParseAddr("2001:db8::2")), sighting{host, false}, true},
		{"NA", ndPacket(netip.MustParseAddr("fe80::1"), netip.MustParseAddr("ff02::1"), icmp6.TypeNA, host), sighting{host, false}, true},
		{"link-local NS", ndPacket(netip.MustParseAddr("fe80::1"), netip.MustParseAddr("ff02::1:ff00:2"), icmp6.TypeNS, netip.MustParseAddr("fe80::2")), sighting{}, false},
		{"bad checksum", func() []byte {
			b := ndPacket(host, netip.MustParseAddr("ff02::2"), icmp6.TypeRS, netip.Addr{})
			b[42]++
			return b
		}(), sighting{}, false},
		{"hop limit 64", func() []byte {
			b := ndPacket(host, netip.MustParseAddr("ff02::2"), icmp6.TypeRS, netip.Addr{})
			b[7] = 64
			return b
		}(), sighting{}, false},
	} {
		got, ok := parseSighting(tc.b)
		if ok != tc.ok || got != tc.want {
			t.Errorf("%s: got %+v %v, want %+v %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

// ndPacket builds an IPv6 packet with an RS, or an NS or NA for target.
func ndPacket(src, dst netip.Addr, typ uint8, target netip.Addr) []byte {
	icmp := []byte{typ, 0, 0, 0, 0, 0, 0, 0}
	if typ != icmp6.TypeRS {
		icmp = append(icmp, target.AsSlice()...)
	}
	c := icmp6.Checksum(src, dst, icmp)
	icmp[2], icmp[3] = byte(c>>8), byte(c)
	b := []byte{0x60, 0, 0, 0, 0, byte(len(icmp)), icmp6.Proto, 255}
	b = append(b, src.AsSlice()...)
	b = append(b, dst.AsSlice()...)
	return append(b, icmp...)
}
