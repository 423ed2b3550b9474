package mdns

import (
	"fmt"
	"hash/maphash"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/ndproxy/ndproxy/internal/config"
)

// The lab of these tests: home (index 1) and island (index 2), both
// families, and wg (index 3), IPv6 only with a small MTU.
var (
	home = Iface{Index: 1, Name: "wlan0", MTU: 1500, Prefixes: []netip.Prefix{
		netip.MustParsePrefix("fe80::1/64"), netip.MustParsePrefix("2001:db8:1::2/64"), netip.MustParsePrefix("192.168.1.2/24")}}
	island = Iface{Index: 2, Name: "eth0", MTU: 1500, Prefixes: []netip.Prefix{
		netip.MustParsePrefix("fe80::2/64"), netip.MustParsePrefix("fd2f::1/64"), netip.MustParsePrefix("10.41.0.1/24")}}
	wg = Iface{Index: 3, Name: "wg0", MTU: 600, Prefixes: []netip.Prefix{netip.MustParsePrefix("fe80::3/64")}}

	pi4    = netip.MustParseAddrPort("10.41.0.41:5353")
	pi6    = netip.MustParseAddrPort("[fe80::41]:5353")
	laptop = netip.MustParseAddrPort("[fe80::100]:5353")
	t0     = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
)

func testCore(edit func(*config.Reflector)) *core {
	cfg := config.Reflector{Name: "t", IPv4: true, IPv6: true, FilterAddresses: true}
	if edit != nil {
		edit(&cfg)
	}
	c := newCore(cfg, maphash.MakeSeed(), 0x1000)
	c.setIfaces([]Iface{home, island, wg})
	return c
}

func aaaa(n, a string) Record {
	ip := netip.MustParseAddr(a)
	if ip.Is4() {
		b := ip.As4()
		return Record{Name: name(n), Type: typeA, Class: 1 | topBit, TTL: 120, Data: b[:]}
	}
	b := ip.As16()
	return Record{Name: name(n), Type: typeAAAA, Class: 1 | topBit, TTL: 120, Data: b[:]}
}

func encode(t *testing.T, m *Message) []byte { t.Helper(); return mustEncode(t, m) }

// summary is what a test compares: per packet, where it goes and what it
// carries.
func summary(t *testing.T, outs []Out) []string {
	t.Helper()
	var s []string
	for _, o := range outs {
		m, err := Parse(o.Data)
		if err != nil {
			t.Fatalf("sent a packet that does not parse: %v", err)
		}
		line := fmt.Sprintf("if%d %v id=%#x", o.Iface, o.Dst, m.ID)
		if o.Legacy {
			line += " legacy"
		}
		for _, q := range m.Questions {
			line += fmt.Sprintf(" q:%s/%d/%#x", q.Name, q.Type, q.Class)
		}
		for _, r := range append(append(slices.Clone(m.Answers), m.Authority...), m.Additional...) {
			switch r.Type {
			case typeA, typeAAAA:
				a, _ := netip.AddrFromSlice(r.Data)
				line += " " + a.String()
			default:
				line += fmt.Sprintf(" %s/%d", r.Name, r.Type)
			}
		}
		s = append(s, line)
	}
	return s
}

func check(t *testing.T, what string, got []Out, want ...string) {
	t.Helper()
	if diff := cmp.Diff(want, summary(t, got)); diff != "" {
		t.Errorf("%s (-want +got):\n%s", what, diff)
	}
}

func TestResponseFiltered(t *testing.T) {
	c := testCore(nil)
	m := &Message{Flags: flagQR | 1<<10, Answers: []Record{
		aaaa("pi41.local", "fd2f::41"), aaaa("pi41.local", "fe80::41"),
		aaaa("pi41.local", "2001:db8:1:0:41::1"), aaaa("pi41.local", "10.41.0.41"),
	}, Additional: []Record{announcement().Additional[0]}}
	b := encode(t, m)
	outs := c.handle(Packet{Iface: island.Index, Src: pi6, Data: b}, t0)
	check(t, "response from the island", outs,
		"if1 [ff02::fb]:5353 id=0x0 2001:db8:1:0:41::1 10.41.0.41 pi41.local./47",
		"if3 [ff02::fb]:5353 id=0x0 2001:db8:1:0:41::1 10.41.0.41 pi41.local./47")

	// The same records again within the second: held back on every link.
	outs = c.handle(Packet{Iface: island.Index, Src: pi6, Data: b}, t0.Add(900*time.Millisecond))
	check(t, "the same response 0.9 s later", outs)
	// And a second later they go out again.
	outs = c.handle(Packet{Iface: island.Index, Src: pi6, Data: b}, t0.Add(1100*time.Millisecond))
	if len(outs) != 2 {
		t.Errorf("the same response 1.1 s later: %d packets, want 2", len(outs))
	}

	// Over IPv4 it goes only where there is IPv4.
	outs = c.handle(Packet{Iface: island.Index, Src: pi4, Data: b}, t0.Add(3*time.Second))
	check(t, "response over IPv4", outs,
		"if1 224.0.0.251:5353 id=0x0 2001:db8:1:0:41::1 10.41.0.41 pi41.local./47")

	want := Counters{Received: 4, Relayed: 5, RecordsFiltered: 8, RecordsSuppressed: 6, Dropped: map[string]uint64{"rate_limited": 2}}
	if diff := cmp.Diff(want, c.c); diff != "" {
		t.Errorf("counters (-want +got):\n%s", diff)
	}
}

func TestResponseReachableAndUnfiltered(t *testing.T) {
	m := &Message{Flags: flagQR, Answers: []Record{aaaa("pi41.local", "fd2f::41"), aaaa("pi41.local", "fe80::41")}}
	c := testCore(nil)
	check(t, "only a ULA and a link-local", c.handle(Packet{Iface: 2, Src: pi6, Data: encode(t, m)}, t0))
	if c.c.Dropped["filtered"] != 1 {
		t.Errorf("dropped %v, want filtered 1", c.c.Dropped)
	}

	c = testCore(func(r *config.Reflector) { r.Reachable = []netip.Prefix{netip.MustParsePrefix("fd2f::/48")} })
	check(t, "reachable ULA", c.handle(Packet{Iface: 2, Src: pi6, Data: encode(t, m)}, t0),
		"if1 [ff02::fb]:5353 id=0x0 fd2f::41", "if3 [ff02::fb]:5353 id=0x0 fd2f::41")

	c = testCore(func(r *config.Reflector) { r.FilterAddresses = false })
	check(t, "filter_addresses off", c.handle(Packet{Iface: 2, Src: pi6, Data: encode(t, m)}, t0),
		"if1 [ff02::fb]:5353 id=0x0 fd2f::41 fe80::41", "if3 [ff02::fb]:5353 id=0x0 fd2f::41 fe80::41")
}

func TestDropped(t *testing.T) {
	resp := encode(t, &Message{Flags: flagQR, Answers: []Record{aaaa("pi41.local", "2001:db8::41")}})
	for _, tt := range []struct {
		name   string
		p      Packet
		reason string
	}{
		{"malformed", Packet{Iface: 2, Src: pi6, Data: []byte{1, 2, 3}}, "malformed"},
		{"response from another port", Packet{Iface: 2, Src: netip.MustParseAddrPort("[fe80::41]:5354"), Data: resp}, "source_port"},
		{"unicast from off-link", Packet{Iface: 2, Src: netip.MustParseAddrPort("[2001:db8:9::1]:5353"), HopLimit: 64, Data: resp, Legacy: true}, "off_link"},
		{"unicast from off-link over IPv4", Packet{Iface: 2, Src: netip.MustParseAddrPort("192.168.1.7:5353"), HopLimit: 63, Data: resp, Legacy: true}, "off_link"},
		{"unicast with hop limit 255", Packet{Iface: 2, Src: netip.MustParseAddrPort("[2001:db8:9::1]:5353"), HopLimit: 255, Data: resp, Legacy: true}, "legacy_unknown"},
		{"our own address", Packet{Iface: 2, Src: netip.MustParseAddrPort("[fe80::2]:5353"), Data: resp}, "own"},
		{"our address on the other link", Packet{Iface: 1, Src: netip.MustParseAddrPort("[2001:db8:1::2]:5353"), Data: resp}, "own"},
		{"unknown legacy answer", Packet{Iface: 2, Src: pi6, Data: resp, Legacy: true}, "legacy_unknown"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := testCore(nil)
			if outs := c.handle(tt.p, t0); len(outs) != 0 {
				t.Errorf("relayed %v", summary(t, outs))
			}
			if diff := cmp.Diff(map[string]uint64{tt.reason: 1}, c.c.Dropped); diff != "" {
				t.Errorf("dropped (-want +got):\n%s", diff)
			}
		})
	}
	c := testCore(nil)
	if outs := c.handle(Packet{Iface: 9, Src: pi6, Data: resp}, t0); outs != nil || c.c.Received != 0 {
		t.Errorf("a packet on a link not ours: %v, received %d", outs, c.c.Received)
	}
}

func TestQuery(t *testing.T) {
	c := testCore(nil)
	q := &Message{Flags: flagTC, Questions: []Question{{Name: name("pi41.local"), Type: typeAAAA, Class: 1 | topBit}}}
	b := encode(t, q)
	check(t, "a QU query with TC", c.handle(Packet{Iface: 1, Src: laptop, Data: b}, t0),
		"if2 [ff02::fb]:5353 id=0x0 q:pi41.local./28/0x1", "if3 [ff02::fb]:5353 id=0x0 q:pi41.local./28/0x1")
	// Its known-answer follow-up goes out at once.
	ka := encode(t, &Message{Answers: []Record{aaaa("pi42.local", "2001:db8::42")}})
	check(t, "the known-answer follow-up", c.handle(Packet{Iface: 1, Src: laptop, Data: ka}, t0.Add(time.Millisecond)),
		"if2 [ff02::fb]:5353 id=0x0 2001:db8::42", "if3 [ff02::fb]:5353 id=0x0 2001:db8::42")
	if m, _ := Parse(c.handle(Packet{Iface: 1, Src: laptop, Data: b}, t0.Add(time.Second))[0].Data); m.Flags&flagTC == 0 {
		t.Errorf("TC bit cleared")
	}
	// The same query back from a second reflector on the island, at once:
	// not sent to home again (nor to wg0, where it just went).
	check(t, "the query bounced back", c.handle(Packet{Iface: 2, Src: netip.MustParseAddrPort("[fe80::99]:5353"), Data: b}, t0.Add(time.Second+time.Millisecond)))
	// A probe repeated 250 ms later goes out.
	check(t, "the query 250 ms later", c.handle(Packet{Iface: 1, Src: laptop, Data: b}, t0.Add(1250*time.Millisecond)),
		"if2 [ff02::fb]:5353 id=0x0 q:pi41.local./28/0x1", "if3 [ff02::fb]:5353 id=0x0 q:pi41.local./28/0x1")
	if c.c.Dropped["duplicate"] != 2 {
		t.Errorf("dropped %v, want duplicate 2", c.c.Dropped)
	}
}

func TestLegacy(t *testing.T) {
	c := testCore(nil)
	querier := netip.MustParseAddrPort("192.168.1.100:40000")
	q := encode(t, &Message{ID: 0xbeef, Questions: []Question{{Name: name("pi41.local"), Type: typeA, Class: 1}}})
	outs := c.handle(Packet{Iface: 1, Src: querier, Data: q}, t0)
	check(t, "legacy query", outs, "if2 224.0.0.251:5353 id=0x1000 legacy q:pi41.local./1/0x1")

	answer := func(id uint16, addr string) []byte {
		r := aaaa("pi41.local", addr)
		r.Class, r.TTL = 1, 10 // RFC 6762 §6.7: no cache-flush, TTL ≤ 10
		return encode(t, &Message{ID: id, Flags: flagQR | 1<<10, Questions: []Question{{Name: name("pi41.local"), Type: typeA, Class: 1}}, Answers: []Record{r}})
	}
	check(t, "its answer", c.handle(Packet{Iface: 2, Src: pi4, Data: answer(0x1000, "10.41.0.41"), Legacy: true}, t0.Add(10*time.Millisecond)),
		"if1 192.168.1.100:40000 id=0xbeef q:pi41.local./1/0x1 10.41.0.41")
	// A responder that forgot the rules for legacy answers: the querier
	// gets them kept all the same.
	rude := encode(t, &Message{ID: 0x1000, Flags: flagQR, Answers: []Record{aaaa("pi41.local", "10.41.0.41")}})
	outs = c.handle(Packet{Iface: 2, Src: pi4, Data: rude, Legacy: true}, t0.Add(15*time.Millisecond))
	if len(outs) != 1 {
		t.Fatalf("answer with cache-flush and TTL 120: %d packets", len(outs))
	}
	if m, _ := Parse(outs[0].Data); m.Answers[0].Class != 1 || m.Answers[0].TTL != legacyTTL {
		t.Errorf("legacy answer passed on with class %#x, TTL %d; want 1 and %d", m.Answers[0].Class, m.Answers[0].TTL, legacyTTL)
	}
	check(t, "an answer with only a link-local address", c.handle(Packet{Iface: 2, Src: pi4, Data: answer(0x1000, "169.254.3.4"), Legacy: true}, t0.Add(20*time.Millisecond)))
	check(t, "an answer after the timeout", c.handle(Packet{Iface: 2, Src: pi4, Data: answer(0x1000, "10.41.0.41"), Legacy: true}, t0.Add(legacyTimeout+time.Second)))
	want := map[string]uint64{"filtered": 1, "legacy_unknown": 1}
	if diff := cmp.Diff(want, c.c.Dropped); diff != "" {
		t.Errorf("dropped (-want +got):\n%s", diff)
	}

	// The slot table is bounded.
	c = testCore(nil)
	for i := 0; i < legacySlots+1; i++ {
		c.handle(Packet{Iface: 1, Src: querier, Data: q}, t0)
	}
	if c.c.LegacyQueries != legacySlots || c.c.Dropped["legacy_full"] != 1 {
		t.Errorf("after %d legacy queries: %d passed on, dropped %v", legacySlots+1, c.c.LegacyQueries, c.c.Dropped)
	}
}

// TestSplit: a response too big for wg0's MTU is split into packets that fit,
// every record in exactly one of them.
// TestSplitQuery: a query whose known answers do not fit wg0 goes there as
// the querier would have sent it (RFC 6762 §7.2), and in one piece where it
// fits; a probe too large is not split.
func TestSplitQuery(t *testing.T) {
	for _, tc := range []bool{false, true} {
		c := testCore(nil)
		m := &Message{Questions: []Question{{Name: name("_ipp._tcp.local"), Type: 12, Class: 1}}}
		if tc {
			m.Flags = flagTC // more known answers follow from the asker
		}
		for i := 0; i < 30; i++ {
			m.Answers = append(m.Answers, Record{Name: name("_ipp._tcp.local"), Type: 12, Class: 1, TTL: 4500,
				Data: fullName(fmt.Sprintf("Printer %02d._ipp._tcp.local", i))})
		}
		b := encode(t, m)
		if len(b) <= wg.MTU-48 || len(b) > 1500-48 {
			t.Fatalf("test query is %d bytes", len(b))
		}
		outs := c.handle(Packet{Iface: 1, Src: laptop, Data: b}, t0)
		var toWG []*Message
		for _, o := range outs {
			got, err := Parse(o.Data)
			if err != nil {
				t.Fatal(err)
			}
			switch o.Iface {
			case island.Index:
				if !slices.Equal(o.Data, b) {
					t.Errorf("TC %v: the island got a changed query", tc)
				}
			case wg.Index:
				if len(o.Data) > wg.MTU-48 {
					t.Errorf("TC %v: %d bytes to wg0, more than %d", tc, len(o.Data), wg.MTU-48)
				}
				toWG = append(toWG, got)
			}
		}
		if len(toWG) < 2 {
			t.Fatalf("TC %v: %d packets to wg0, want the query split", tc, len(toWG))
		}
		var known []string
		for i, got := range toWG {
			if wantQ := i == 0; (len(got.Questions) > 0) != wantQ {
				t.Errorf("TC %v: packet %d has %d questions", tc, i, len(got.Questions))
			}
			if wantTC := i < len(toWG)-1 || tc; (got.Flags&flagTC != 0) != wantTC {
				t.Errorf("TC %v: packet %d of %d has TC %v", tc, i, len(toWG), !wantTC)
			}
			for _, r := range got.Answers {
				known = append(known, string(r.Data))
			}
		}
		var want []string
		for _, r := range m.Answers {
			want = append(want, string(r.Data))
		}
		if !slices.Equal(known, want) {
			t.Errorf("TC %v: known answers to wg0 %d, want all %d in order", tc, len(known), len(want))
		}
	}

	// A known-answer follow-up (no questions) whose only record does not
	// fit wg0 even alone: nothing goes there.
	{
		c := testCore(nil)
		big := Record{Name: name("pi41.local"), Type: 16, Class: 1, TTL: 4500, Data: make([]byte, 700)}
		fb := encode(t, &Message{Answers: []Record{big}})
		outs := c.handle(Packet{Iface: 1, Src: laptop, Data: fb}, t0)
		if len(outs) != 1 || outs[0].Iface != island.Index {
			t.Errorf("an oversized follow-up went out as %v, want to the island only", summary(t, outs))
		}
	}

	// A probe: its proposed records must arrive with it.
	c := testCore(nil)
	probe := &Message{Questions: []Question{{Name: name("pi41.local"), Type: 255, Class: 1}}}
	for i := 0; i < 40; i++ {
		probe.Authority = append(probe.Authority, aaaa("pi41.local", fmt.Sprintf("2001:db8::%x", i+1)))
	}
	pb := encode(t, probe)
	outs := c.handle(Packet{Iface: 1, Src: laptop, Data: pb}, t0)
	if len(outs) != 1 || outs[0].Iface != island.Index || !slices.Equal(outs[0].Data, pb) {
		t.Errorf("a probe too big for wg0 went out as %v, want whole to the island only", summary(t, outs))
	}
	if c.c.Dropped["too_big"] != 1 {
		t.Errorf("dropped %v, want too_big 1", c.c.Dropped)
	}
}

func TestSplit(t *testing.T) {
	c := testCore(nil)
	m := &Message{Flags: flagQR | 1<<10}
	for i := 0; i < 40; i++ {
		m.Answers = append(m.Answers, Record{Name: name(fmt.Sprintf("Printer %02d._ipp._tcp.local", i)), Type: 16, Class: 1 | topBit, TTL: 4500,
			Data: []byte("\x1etxtvers=1 and some padding...")})
	}
	b := encode(t, m)
	if len(b) < 1200 {
		t.Fatalf("test response is only %d bytes", len(b))
	}
	outs := c.handle(Packet{Iface: 1, Src: laptop, Data: b}, t0)
	seen := map[string]int{}
	for _, o := range outs {
		limit := 1500 - 48
		if o.Iface == wg.Index {
			limit = wg.MTU - 48
		}
		if len(o.Data) > limit {
			t.Errorf("%d bytes to if%d, more than its %d", len(o.Data), o.Iface, limit)
		}
		got, err := Parse(o.Data)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range got.Answers {
			seen[fmt.Sprintf("if%d %s", o.Iface, r.Name)]++
		}
	}
	if len(seen) != 80 || len(outs) < 3 {
		t.Errorf("%d packets carry %d records, want all 40 on each of 2 links", len(outs), len(seen))
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("%s sent %d times", k, n)
		}
	}
}

func TestServices(t *testing.T) {
	c := testCore(func(r *config.Reflector) { r.DenyServices = []string{"_airplay._tcp"} })
	m := &Message{Flags: flagQR, Answers: []Record{
		{Name: name("_services._dns-sd._udp.local"), Type: typePTR, Class: 1, TTL: 4500, Data: fullName("_airplay._tcp.local")},
		{Name: name("_airplay._tcp.local"), Type: typePTR, Class: 1, TTL: 4500, Data: fullName("TV._airplay._tcp.local")},
		{Name: name("TV._AirPlay._tcp.local"), Type: typeSRV, Class: 1, TTL: 120, Data: append([]byte{0, 0, 0, 0, 0, 7}, fullName("tv.local")...)},
		{Name: name("_ssh._tcp.local"), Type: typePTR, Class: 1, TTL: 4500, Data: fullName("Pi._ssh._tcp.local")},
		aaaa("tv.local", "2001:db8::7"),
	}}
	check(t, "airplay denied", c.handle(Packet{Iface: 2, Src: pi6, Data: encode(t, m)}, t0),
		"if1 [ff02::fb]:5353 id=0x0 _ssh._tcp.local./12 2001:db8::7",
		"if3 [ff02::fb]:5353 id=0x0 _ssh._tcp.local./12 2001:db8::7")

	c = testCore(func(r *config.Reflector) { r.AllowServices = []string{"_ipp._tcp"} })
	q := &Message{Questions: []Question{{Name: name("_ssh._tcp.local"), Type: typePTR, Class: 1}}}
	check(t, "a query for a service not allowed", c.handle(Packet{Iface: 1, Src: laptop, Data: encode(t, q)}, t0))
	q.Questions = append(q.Questions, Question{Name: name("pi41.local"), Type: typeAAAA, Class: 1})
	outs := c.handle(Packet{Iface: 1, Src: laptop, Data: encode(t, q)}, t0)
	if len(outs) != 2 || !strings.Contains(summary(t, outs)[0], "q:pi41.local./28/0x1") || strings.Contains(summary(t, outs)[0], "_ssh") {
		t.Errorf("query for a host and a service not allowed: %v", summary(t, outs))
	}
}

// FuzzHandle feeds arbitrary packets to the reflector: it never panics, and
// everything it sends parses, fits the link it goes out on, and never goes
// back to the link the packet came from.
func FuzzHandle(f *testing.F) {
	for _, m := range []*Message{announcement(), service(), query()} {
		f.Add(mustEncode(f, m), uint16(5353), uint8(2), false)
	}
	f.Add(compressedNSEC, uint16(5353), uint8(1), false)
	f.Add(mustEncode(f, query()), uint16(40000), uint8(1), false)
	f.Add(mustEncode(f, &Message{ID: 0x1000, Flags: flagQR, Answers: announcement().Answers}), uint16(5353), uint8(2), true)
	f.Fuzz(func(t *testing.T, b []byte, port uint16, iface uint8, legacy bool) {
		c := testCore(nil)
		// A legacy query in flight, so that legacy answers can match.
		c.handle(Packet{Iface: 1, Src: netip.MustParseAddrPort("[fe80::100]:40000"), Data: mustEncode(t, query())}, t0)
		in := int(iface%3) + 1
		src := netip.AddrPortFrom(netip.MustParseAddr("fe80::41"), port)
		for _, o := range c.handle(Packet{Iface: in, Src: src, HopLimit: 255, Data: b, Legacy: legacy}, t0.Add(time.Millisecond)) {
			if o.Iface == in {
				t.Errorf("sent back to the link it came from: %+v", o)
			}
			if _, err := Parse(o.Data); err != nil {
				t.Errorf("sent a packet that does not parse: %v", err)
			}
			if i := c.ifaces[o.Iface]; i == nil || len(o.Data) > i.payload(o.Dst.Addr().Is4()) {
				t.Errorf("%d bytes to link %d", len(o.Data), o.Iface)
			}
		}
	})
}
