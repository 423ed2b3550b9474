package ra

import (
	"encoding/binary"
	"io"
	"log/slog"
	"net/netip"
	"testing"
	"time"
)

var wgLink = Link{Index: 7, Name: "wg0", MTU: 1420, Source: netip.MustParseAddr("fe80::aa"),
	Unicast: []netip.Addr{netip.MustParseAddr("fe80::b1"), netip.MustParseAddr("fe80::b2")}}

func newOrigin(t *testing.T) (*Relay, *recorder) {
	t.Helper()
	rec := &recorder{}
	r := New(Settings{Interval: 60 * time.Second, HoldDown: 10 * time.Minute}, []Link{wgLink},
		slog.New(slog.NewTextHandler(io.Discard, nil)), rec, func(d time.Duration) time.Duration { return d / 2 })
	return r, rec
}

// pio is a prefix option of m as (flags, valid, preferred); ok is false
// when m has none for p.
func pio(m Message, p netip.Prefix) (flags byte, valid, preferred uint32, ok bool) {
	for _, o := range m.Options {
		if o.Type != optPrefix || int(o.Data[0]) != p.Bits() || netip.AddrFrom16([16]byte(o.Data[14:30])) != p.Addr() {
			continue
		}
		return o.Data[1], binary.BigEndian.Uint32(o.Data[2:6]), binary.BigEndian.Uint32(o.Data[6:10]), true
	}
	return 0, 0, 0, false
}

func TestOriginateAnnouncesDevicePrefixes(t *testing.T) {
	r, rec := newOrigin(t)
	r.Tick(t0)
	if len(rec.take()) != 0 {
		t.Fatal("sent an RA before there was anything to announce")
	}
	p64 := netip.MustParsePrefix("2001:db8:7:1::/64")
	p62 := netip.MustParsePrefix("2001:db8:7:4::/62")
	r.Originate(Advert{DefaultRouter: true, Prefixes: []AdvPrefix{
		{Prefix: p64}, // a static address: lifetimes capped
		{Prefix: p62, ValidUntil: t0.Add(time.Hour), PreferredUntil: t0.Add(10 * time.Minute)},
	}}, t0)
	r.Tick(t0)
	got := rec.take()
	if len(got) != 1 {
		t.Fatalf("sent %d RAs, want 1 per link (the runner fans it out to each peer)", len(got))
	}
	m := got[0].m
	if m.Flags&FlagProxy != 0 || m.RouterLifetime != ownRouterLifetime || m.CurHopLimit != ownHopLimit {
		t.Errorf("header flags %#x lifetime %d hop limit %d, want no P, %d, %d", m.Flags, m.RouterLifetime, m.CurHopLimit, ownRouterLifetime, ownHopLimit)
	}
	if f, v, p, ok := pio(m, p64); !ok || f != 0xc0 || v != 5400 || p != 2700 {
		t.Errorf("/64: flags %#x valid %d preferred %d (found %v), want L+A, 5400, 2700", f, v, p, ok)
	}
	if f, v, p, ok := pio(m, p62); !ok || f != 0x80 || v != 3600 || p != 600 {
		t.Errorf("/62: flags %#x valid %d preferred %d (found %v), want L only (no SLAAC off a /64), 3600, 600", f, v, p, ok)
	}
	var mtu uint32
	for _, o := range m.Options {
		if o.Type == optMTU {
			mtu = binary.BigEndian.Uint32(o.Data[2:6])
		}
		if o.Type == optSLLA {
			t.Error("a source link-layer option on a link without one")
		}
	}
	if mtu != 1420 {
		t.Errorf("MTU option %d, want the device's 1420", mtu)
	}

	// Lifetimes counting down are not news; the next RA has them.
	r.Originate(Advert{DefaultRouter: true, Prefixes: []AdvPrefix{
		{Prefix: p64},
		{Prefix: p62, ValidUntil: t0.Add(time.Hour), PreferredUntil: t0.Add(10 * time.Minute)},
	}}, t0.Add(5*time.Second))
	r.Tick(t0.Add(5 * time.Second))
	if got := rec.take(); len(got) != 0 {
		t.Errorf("sent %d RAs for an unchanged advert", len(got))
	}
	next := r.Tick(t0.Add(6 * time.Second))
	r.Tick(next)
	got = rec.take()
	if len(got) != 1 {
		t.Fatalf("no unsolicited RA at %v", next.Sub(t0))
	}
	if _, v, _, _ := pio(got[0].m, p62); v != uint32((time.Hour-next.Sub(t0))/time.Second) {
		t.Errorf("/62 valid %d at %v, want counted down", v, next.Sub(t0))
	}
}

func TestOriginateRenumbering(t *testing.T) {
	r, rec := newOrigin(t)
	old := netip.MustParsePrefix("2001:db8:7:1::/64")
	renumbered := netip.MustParsePrefix("2001:db8:8:1::/64")
	r.Originate(Advert{DefaultRouter: true, Prefixes: []AdvPrefix{{Prefix: old}}}, t0)
	r.Tick(t0)
	rec.take()

	now := t0.Add(10 * time.Minute)
	r.Originate(Advert{DefaultRouter: true, Prefixes: []AdvPrefix{{Prefix: renumbered}}}, now)
	r.Tick(now)
	got := rec.take()
	if len(got) != 1 {
		t.Fatalf("sent %d RAs on a renumbering, want one at once", len(got))
	}
	if _, v, p, ok := pio(got[0].m, renumbered); !ok || v != 5400 || p != 2700 {
		t.Errorf("new prefix valid %d preferred %d (found %v)", v, p, ok)
	}
	if _, v, p, ok := pio(got[0].m, old); !ok || p != 0 || v != 5400 {
		t.Errorf("old prefix valid %d preferred %d (found %v), want deprecated: preferred 0, valid what the hosts were told", v, p, ok)
	}
	if st := r.Status(now); st.State != "advertising" || len(st.Advertised) != 1 || len(st.Withdrawn) != 1 {
		t.Errorf("status %+v", st)
	}

	// Once its valid lifetime is over the old prefix is not mentioned.
	late := now.Add(validLimit + time.Second)
	if st := r.Status(late); len(st.Withdrawn) != 0 {
		t.Errorf("status still lists %v as withdrawn after its valid lifetime", st.Withdrawn)
	}
	r.HandleRS(wgLink.Index, late)
	r.Tick(late.Add(time.Second))
	got = rec.take()
	if len(got) != 1 {
		t.Fatalf("RS not answered: %d RAs", len(got))
	}
	if _, _, _, ok := pio(got[0].m, old); ok {
		t.Error("the old prefix is still sent after its valid lifetime ran out")
	}

	// Back again (the upstream gave the old prefix back): advertised in
	// full, no longer withdrawn.
	r.Originate(Advert{DefaultRouter: true, Prefixes: []AdvPrefix{{Prefix: renumbered}, {Prefix: old}}}, late.Add(2*time.Second))
	if st := r.Status(late.Add(2 * time.Second)); len(st.Withdrawn) != 0 || len(st.Advertised) != 2 {
		t.Errorf("status after the prefix came back %+v", st)
	}
}

func TestOriginateDefaultRouterAndGoodbye(t *testing.T) {
	r, rec := newOrigin(t)
	p := []AdvPrefix{{Prefix: netip.MustParsePrefix("2001:db8:7:1::/64")}}
	r.Originate(Advert{Prefixes: p}, t0)
	r.Tick(t0)
	if got := rec.take(); len(got) != 1 || got[0].m.RouterLifetime != 0 {
		t.Fatalf("without a default route of our own: %+v, want router lifetime 0", got)
	}
	r.Originate(Advert{Prefixes: p, DefaultRouter: true}, t0.Add(time.Second))
	r.Tick(t0.Add(time.Second))
	if got := rec.take(); len(got) != 1 || got[0].m.RouterLifetime != ownRouterLifetime {
		t.Fatalf("default route appeared: %+v, want an RA at once with lifetime %d", got, ownRouterLifetime)
	}
	// An RA from a peer is another router, not a loop: nothing is held.
	m, _ := ParseRA(upstreamRA(t))
	r.HandleRA(m, netip.MustParseAddr("fe80::b1"), wgLink.Index, false, t0.Add(2*time.Second))
	if st := r.Status(t0.Add(2 * time.Second)); st.State != "advertising" || st.Links[0].HeldDownSeconds != 0 || st.Counters.Loops != 0 {
		t.Errorf("status after a peer's RA %+v", st)
	}
	if rec.solicited != 0 {
		t.Errorf("an originating relay solicited %d times: it has no upstream", rec.solicited)
	}
	r.UpstreamGone(t0.Add(3 * time.Second))
	if got := rec.take(); len(got) != 1 || got[0].m.RouterLifetime != 0 {
		t.Errorf("on stop: %+v, want one RA with router lifetime 0", got)
	}
}
