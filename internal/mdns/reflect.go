package mdns

import (
	"encoding/binary"
	"errors"
	"hash/maphash"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/ndproxy/ndproxy/internal/config"
)

// Port is the mDNS port (RFC 6762 §3): responses must come from it, and a
// query from any other port is a legacy unicast query (§6.7).
const Port = 5353

// The mDNS groups (RFC 6762 §3).
var (
	Group4 = netip.AddrPortFrom(netip.AddrFrom4([4]byte{224, 0, 0, 251}), Port)
	Group6 = netip.AddrPortFrom(netip.MustParseAddr("ff02::fb"), Port)
)

const (
	// recordInterval is the least time between two copies of one record
	// on one link: RFC 6762 §6 forbids multicasting a record more often
	// than once a second. It is also what stops a loop through a second
	// reflector and a storm from a chatty responder.
	recordInterval = time.Second
	// queryInterval is the least time between two copies of the same query
	// on one link. It stops a query bouncing between two reflectors (which
	// takes microseconds a round) but lets through the next probe of a
	// host, 250 ms later (RFC 6762 §8.1).
	queryInterval = 200 * time.Millisecond
	// legacySlots bounds the legacy unicast queries in flight, and
	// legacyTimeout how long the answers to one are waited for.
	legacySlots   = 128
	legacyTimeout = 3 * time.Second
	// legacyTTL is the longest TTL in an answer to a legacy querier.
	legacyTTL = 10
	// maxRemembered bounds each table of copies sent; entries older than
	// their interval are swept out every second.
	maxRemembered = 16384
	// maxPacket is the largest mDNS packet on any link (RFC 6762 §17).
	maxPacket = 9000
)

// Iface is a link the reflector works on, ready to send and receive.
type Iface struct {
	Index int
	Name  string
	MTU   int
	// Prefixes are the link's addresses with their prefix lengths, of
	// both families: the sources that count as on-link, and our own
	// addresses.
	Prefixes []netip.Prefix
}

// has reports whether the link has an address of the family of a.
func (i *Iface) has(v4 bool) bool {
	for _, p := range i.Prefixes {
		if p.Addr().Is4() == v4 {
			return true
		}
	}
	return false
}

// payload is the largest UDP payload that fits the link's MTU.
func (i *Iface) payload(v4 bool) int {
	mtu := i.MTU
	if mtu <= 0 {
		mtu = 1500
	}
	mtu = min(mtu, maxPacket)
	if v4 {
		return mtu - 20 - 8
	}
	return mtu - 40 - 8
}

// Packet is a datagram received on a link.
type Packet struct {
	Iface int
	Src   netip.AddrPort
	// HopLimit is the IPv6 hop limit or the IPv4 TTL it arrived with.
	HopLimit int
	Data     []byte
	// Legacy is set for datagrams that arrived on the legacy socket: the
	// unicast answers to legacy queries the reflector passed on.
	Legacy bool
}

// Out is a datagram to send.
type Out struct {
	Iface int
	Dst   netip.AddrPort
	Data  []byte
	// Legacy sends it from the legacy socket (a passed-on legacy query, so
	// that responders answer it by unicast to that socket), otherwise from
	// port 5353.
	Legacy bool
}

// Counters are what a reflector has done since it started.
type Counters struct {
	// Received counts packets received on the reflector's links.
	Received uint64 `json:"received"`
	// Relayed counts packets sent.
	Relayed uint64 `json:"relayed"`
	// LegacyQueries counts legacy unicast queries passed on.
	LegacyQueries uint64 `json:"legacy_queries"`
	// RecordsFiltered counts records kept from crossing: unusable
	// addresses and services not allowed.
	RecordsFiltered uint64 `json:"records_filtered"`
	// RecordsSuppressed counts records not sent because the same record
	// went out on that link less than a second before.
	RecordsSuppressed uint64 `json:"records_suppressed"`
	// Dropped counts packets not relayed (to one link, or at all), by
	// reason.
	Dropped map[string]uint64 `json:"dropped"`
}

func (c Counters) clone() Counters {
	d := make(map[string]uint64, len(c.Dropped))
	for k, v := range c.Dropped {
		d[k] = v
	}
	c.Dropped = d
	return c
}

// slot is a legacy unicast query in flight (RFC 6762 §6.7): the answers
// come back with our ID and go to the querier with its own.
type slot struct {
	id      uint16
	querier netip.AddrPort
	iface   int
	expires time.Time
}

type sentKey struct {
	iface int
	hash  uint64
}

// core decides what to send for each packet received: the reflector
// without its sockets, driven by Engine's readers under its lock.
type core struct {
	cfg    config.Reflector
	ifaces map[int]*Iface
	seed   maphash.Seed
	// records and queries remember when a record or a query last went
	// out on a link.
	records, queries map[sentKey]time.Time
	slots            map[uint16]*slot
	nextID           uint16
	lastSweep        time.Time
	c                Counters
}

func newCore(cfg config.Reflector, seed maphash.Seed, firstID uint16) *core {
	return &core{
		cfg:     cfg,
		ifaces:  map[int]*Iface{},
		seed:    seed,
		records: map[sentKey]time.Time{},
		queries: map[sentKey]time.Time{},
		slots:   map[uint16]*slot{},
		nextID:  firstID,
		c:       Counters{Dropped: map[string]uint64{}},
	}
}

func (c *core) drop(reason string) { c.c.Dropped[reason]++ }

// setIfaces replaces the links the reflector works on.
func (c *core) setIfaces(ifaces []Iface) {
	c.ifaces = make(map[int]*Iface, len(ifaces))
	for i := range ifaces {
		c.ifaces[ifaces[i].Index] = &ifaces[i]
	}
}

// handle returns what to send for p.
func (c *core) handle(p Packet, now time.Time) []Out {
	in, ok := c.ifaces[p.Iface]
	if !ok {
		return nil // another reflector's link, or one that is going away
	}
	c.c.Received++
	c.sweep(now)
	src := p.Src.Addr().Unmap()
	switch {
	case c.own(src):
		// From this host: an avahi-daemon here answers for itself on
		// each of its links, and what it says on one is about that one.
		// Ours never come back (multicast loopback is off), but would
		// stop here too.
		c.drop("own")
		return nil
	case p.Legacy && !onLink(in, src, p.HopLimit):
		// RFC 6762 §11: a unicast answer must come from an on-link
		// source; others are spoofed or routed in, and a reflector must
		// not amplify them (avahi #203). What reaches the group sockets
		// was sent to the link-scoped group, which no router forwards:
		// on-link whatever its source (the pis' sources are global
		// addresses in a prefix this host does not have).
		c.drop("off_link")
		return nil
	}
	m, err := Parse(p.Data)
	if err != nil {
		c.drop("malformed")
		return nil
	}
	v4 := src.Is4()
	switch {
	case p.Legacy:
		return c.legacyAnswer(in, p, m, v4, now)
	case m.Response() && p.Src.Port() != Port:
		c.drop("source_port") // RFC 6762 §6: receivers MUST ignore them
		return nil
	case m.Response():
		return c.response(in, m, v4, now)
	case p.Src.Port() != Port:
		return c.legacyQuery(in, p, m, v4, now)
	}
	return c.query(in, m, v4, now)
}

// own reports whether a is an address of one of the reflector's links.
func (c *core) own(a netip.Addr) bool {
	for _, i := range c.ifaces {
		for _, p := range i.Prefixes {
			if p.Addr().WithZone("") == a.WithZone("") {
				return true
			}
		}
	}
	return false
}

// onLink reports whether a unicast packet from a with hops left came from
// the link: a link-local source, one inside the link's prefixes, or hop limit
// 255, which no forwarded packet has.
func onLink(in *Iface, a netip.Addr, hops int) bool {
	if a.IsLinkLocalUnicast() || hops == 255 {
		return true
	}
	for _, p := range in.Prefixes {
		if p.Contains(a.WithZone("")) {
			return true
		}
	}
	return false
}

// peers returns the links other than in that speak in's family.
func (c *core) peers(in *Iface, v4 bool) []*Iface {
	var out []*Iface
	for _, i := range c.ifaces {
		if i != in && i.has(v4) {
			out = append(out, i)
		}
	}
	// Map order is random; send in index order, so that tests and logs
	// see the same sequence every time.
	slices.SortFunc(out, func(a, b *Iface) int { return a.Index - b.Index })
	return out
}

func group(v4 bool) netip.AddrPort {
	if v4 {
		return Group4
	}
	return Group6
}

// response relays a multicast response to every other link: filtered,
// each record at most once a second per link, split to fit.
func (c *core) response(in *Iface, m *Message, v4 bool, now time.Time) []Out {
	if !c.filter(m) {
		return nil
	}
	var outs []Out
	for _, o := range c.peers(in, v4) {
		var sections [3][]Record
		n := 0
		for s, sec := range [][]Record{m.Answers, m.Authority, m.Additional} {
			for _, r := range sec {
				k := sentKey{o.Index, c.recordHash(r)}
				if t, ok := c.records[k]; ok && now.Sub(t) < recordInterval {
					c.c.RecordsSuppressed++
					continue
				}
				sections[s] = append(sections[s], r)
				if s == 0 {
					n++
				}
			}
		}
		if n == 0 {
			c.drop("rate_limited")
			continue
		}
		pkts, sent := c.split(m.ID, m.Flags, m.Questions, sections, o.payload(v4))
		for _, r := range sent {
			c.remember(c.records, sentKey{o.Index, c.recordHash(r)}, now)
		}
		for _, b := range pkts {
			outs = append(outs, Out{Iface: o.Index, Dst: group(v4), Data: b})
		}
	}
	// The records were just multicast on their own link too: a second
	// reflector that sends them back there within the second is not
	// followed.
	for _, sec := range [][]Record{m.Answers, m.Authority, m.Additional} {
		for _, r := range sec {
			c.remember(c.records, sentKey{in.Index, c.recordHash(r)}, now)
		}
	}
	c.c.Relayed += uint64(len(outs))
	return outs
}

// filter removes the records the far side must not get; false when no answer
// is left, and the packet is then dropped whole rather than sent as an empty
// answer.
func (c *core) filter(m *Message) bool {
	had := len(m.Answers) > 0
	m.Answers = c.keep(m.Answers)
	m.Authority = c.keep(m.Authority)
	m.Additional = c.keep(m.Additional)
	if had && len(m.Answers) == 0 {
		c.drop("filtered")
		return false
	}
	return true
}

func (c *core) keep(rs []Record) []Record {
	out := rs[:0]
	for _, r := range rs {
		if c.usable(r) && c.serviceAllowed(serviceOf(r.Name, r.Type, r.Data)) {
			out = append(out, r)
		} else {
			c.c.RecordsFiltered++
		}
	}
	return out
}

// usable reports whether the address in an A or AAAA record means something
// on the other links. Link-local addresses never do (RFC 6762 §14 wants
// addresses valid on the link they are sent on); unique local ones only
// where the site routes them (RFC 8766 §5.5.2 suppresses unusable records
// by default): an asker that picks an unreachable ULA over the global
// address fails to connect.
func (c *core) usable(r Record) bool {
	if !c.cfg.FilterAddresses || (r.Type != typeA && r.Type != typeAAAA) {
		return true
	}
	a, ok := netip.AddrFromSlice(r.Data)
	if !ok || (r.Type == typeA) != a.Is4() {
		return false // a malformed address is of no use to anyone
	}
	if a.IsLinkLocalUnicast() || a.IsLoopback() || a.IsUnspecified() || a.IsMulticast() {
		return false
	}
	for _, p := range c.cfg.Reachable {
		if p.Contains(a) {
			return true
		}
	}
	return !a.Is6() || !ula.Contains(a)
}

var ula = netip.MustParsePrefix("fc00::/7")

// serviceOf returns the DNS-SD service type ("_ssh._tcp") a record or
// question is about, or "" for anything else (a host's addresses). The
// service enumeration PTR (RFC 6763 §9) is about the service it points to.
func serviceOf(n Name, typ uint16, data []byte) string {
	if typ == typePTR && n.key() == servicesKey && data != nil {
		if target, _, err := readName(data, 0); err == nil {
			n = target
		}
	}
	for i := 0; i+1 < len(n); i++ {
		proto := strings.ToLower(n[i+1])
		if strings.HasPrefix(n[i], "_") && (proto == "_tcp" || proto == "_udp") {
			return strings.ToLower(n[i]) + "." + proto
		}
	}
	return ""
}

var servicesKey = Name{"_services", "_dns-sd", "_udp", "local"}.key()

func (c *core) serviceAllowed(svc string) bool {
	if svc == "" {
		return true
	}
	for _, d := range c.cfg.DenyServices {
		if d == svc {
			return false
		}
	}
	if len(c.cfg.AllowServices) == 0 {
		return true
	}
	for _, a := range c.cfg.AllowServices {
		if a == svc {
			return true
		}
	}
	return false
}

// query relays a query from port 5353 to every other link, QU bits cleared.
// Known-answer packets (TC set, then follow-ups with no questions, RFC 6762
// §7.2) go out one for one as they come, in order: each is relayed before
// the next is read.
func (c *core) query(in *Iface, m *Message, v4 bool, now time.Time) []Out {
	if !c.filterQuestions(m) {
		return nil
	}
	// QU asks the responder for a unicast answer to the asker (§5.4),
	// which after relaying would be us, on a socket that an avahi-daemon
	// on this host may share. Asked as QM, responders multicast, and the
	// answer is relayed back like any other.
	for i := range m.Questions {
		m.Questions[i].Class &= classMask
	}
	b, err := m.Encode()
	if err != nil {
		c.drop("malformed")
		return nil
	}
	h := maphash.Bytes(c.seed, b)
	var outs []Out
	for _, o := range c.peers(in, v4) {
		k := sentKey{o.Index, h}
		if t, ok := c.queries[k]; ok && now.Sub(t) < queryInterval {
			c.drop("duplicate")
			continue
		}
		pkts := [][]byte{b}
		if len(b) > o.payload(v4) {
			if pkts = c.splitQuery(m, o.payload(v4)); pkts == nil {
				c.drop("too_big")
				continue
			}
		}
		c.remember(c.queries, k, now)
		for _, p := range pkts {
			outs = append(outs, Out{Iface: o.Index, Dst: group(v4), Data: p})
		}
	}
	c.remember(c.queries, sentKey{in.Index, h}, now) // as for responses
	c.c.Relayed += uint64(len(outs))
	return outs
}

// filterQuestions removes questions about services not allowed; false when
// none is left of a query that had some.
func (c *core) filterQuestions(m *Message) bool {
	had := len(m.Questions) > 0
	qs := m.Questions[:0]
	for _, q := range m.Questions {
		if c.serviceAllowed(serviceOf(q.Name, q.Type, nil)) {
			qs = append(qs, q)
		} else {
			c.c.RecordsFiltered++
		}
	}
	m.Questions = qs
	if had && len(qs) == 0 {
		c.drop("filtered")
		return false
	}
	return true
}

// legacyQuery passes on a one-shot query from a port other than 5353 (RFC
// 6762 §6.7) under an ID of ours, from the legacy socket, so that the
// responders' unicast answers come back to us to be returned to the querier.
func (c *core) legacyQuery(in *Iface, p Packet, m *Message, v4 bool, now time.Time) []Out {
	if !c.filterQuestions(m) {
		return nil
	}
	if len(c.slots) >= legacySlots {
		c.drop("legacy_full")
		return nil
	}
	id := c.nextID
	for c.slots[id] != nil {
		id++
	}
	c.nextID = id + 1
	c.slots[id] = &slot{id: m.ID, querier: p.Src, iface: in.Index, expires: now.Add(legacyTimeout)}
	m.ID = id
	b, err := m.Encode()
	if err != nil {
		c.drop("malformed")
		return nil
	}
	var outs []Out
	for _, o := range c.peers(in, v4) {
		if len(b) > o.payload(v4) {
			c.drop("too_big")
			continue
		}
		outs = append(outs, Out{Iface: o.Index, Dst: group(v4), Data: b, Legacy: true})
	}
	c.c.LegacyQueries++
	c.c.Relayed += uint64(len(outs))
	return outs
}

// legacyAnswer returns a responder's unicast answer to a passed-on legacy
// query to its querier, with the querier's ID, from port 5353.
func (c *core) legacyAnswer(in *Iface, p Packet, m *Message, v4 bool, now time.Time) []Out {
	s := c.slots[m.ID]
	switch {
	case !m.Response() || p.Src.Port() != Port:
		c.drop("source_port")
		return nil
	case s == nil || now.After(s.expires) || s.iface == in.Index:
		c.drop("legacy_unknown")
		return nil
	}
	q := c.ifaces[s.iface]
	if q == nil {
		c.drop("legacy_unknown")
		return nil
	}
	if !c.filter(m) {
		return nil
	}
	// What a responder owes a legacy querier (RFC 6762 §6.7), made sure
	// of: a resolver that knows nothing of mDNS must not cache records for
	// long, and the cache-flush bit would read to it as another class.
	var sections [3][]Record
	sections[0], sections[1], sections[2] = m.Answers, m.Authority, m.Additional
	for _, sec := range sections {
		for i := range sec {
			sec[i].Class &= classMask
			sec[i].TTL = min(sec[i].TTL, legacyTTL)
		}
	}
	pkts, _ := c.split(s.id, m.Flags, m.Questions, sections, q.payload(v4))
	var outs []Out
	for _, b := range pkts {
		outs = append(outs, Out{Iface: q.Index, Dst: s.querier, Data: b})
	}
	c.c.Relayed += uint64(len(outs))
	return outs
}

// split packs the questions and records into as few messages as fit limit
// bytes each (RFC 6762 §17: never more than the link's MTU). A record that
// does not fit even alone is dropped. It returns the messages and the records
// in them.
func (c *core) split(id, flags uint16, qs []Question, sections [3][]Record, limit int) (pkts [][]byte, sent []Record) {
	start := func() *encoder {
		e := newEncoder(id, flags, limit)
		for _, q := range qs {
			if !e.question(q) {
				return nil
			}
		}
		return e
	}
	e := start()
	if e == nil {
		c.drop("too_big")
		return nil, nil
	}
	records := 0
	for s, sec := range sections {
		for _, r := range sec {
			if e.record(s, r) {
				records++
				sent = append(sent, r)
				continue
			}
			if errors.Is(e.err, errTooBig) && records > 0 {
				pkts = append(pkts, e.bytes())
				e, records = start(), 0
				if e.record(s, r) {
					records++
					sent = append(sent, r)
					continue
				}
			}
			c.drop("too_big")
		}
	}
	if records > 0 {
		pkts = append(pkts, e.bytes())
	}
	return pkts, sent
}

// splitQuery fits a query whose known answers make it too large for a link
// into several packets, the way a querier would have sent it (RFC 6762
// §7.2): the questions and the first known answers with TC set, then
// packets of known answers only, TC set on all but the last (which keeps
// the query's own TC, should more follow from the asker). A known answer
// that does not fit even alone is left out: a responder then answers with
// that record too, which is all suppression saves. A probe (authority
// records) or a query with additional records is not split, since its
// parts must arrive together (§8.2); nor is one whose questions alone do
// not fit, nor one of whose records none fits. It returns nil for those.
func (c *core) splitQuery(m *Message, limit int) [][]byte {
	if len(m.Authority) > 0 || len(m.Additional) > 0 {
		return nil
	}
	e := newEncoder(m.ID, m.Flags|flagTC, limit)
	for _, q := range m.Questions {
		if !e.question(q) {
			return nil
		}
	}
	var pkts [][]byte
	for _, r := range m.Answers {
		if e.record(0, r) {
			continue
		}
		if errors.Is(e.err, errTooBig) && !e.empty() {
			pkts = append(pkts, e.bytes())
			e = newEncoder(m.ID, m.Flags|flagTC, limit)
			if e.record(0, r) {
				continue
			}
		}
		if errors.Is(e.err, errTooBig) {
			c.drop("too_big")
		} else {
			c.drop("malformed")
		}
	}
	if !e.empty() {
		pkts = append(pkts, e.bytes())
	}
	if len(pkts) == 0 {
		return nil // a follow-up of known answers none of which fits
	}
	last := pkts[len(pkts)-1]
	binary.BigEndian.PutUint16(last[2:], m.Flags)
	return pkts
}

// recordHash identifies a record for the once-a-second rule: name (any case),
// type, class without the cache-flush bit, rdata, and whether it is a
// goodbye (TTL 0), which must not be held back by the announcement before it.
func (c *core) recordHash(r Record) uint64 {
	var h maphash.Hash
	h.SetSeed(c.seed)
	h.WriteString(r.Name.key())
	var b [5]byte
	b[0], b[1] = byte(r.Type>>8), byte(r.Type)
	cl := r.Class & classMask
	b[2], b[3] = byte(cl>>8), byte(cl)
	if r.TTL == 0 {
		b[4] = 1
	}
	h.Write(b[:])
	h.Write(r.Data)
	return h.Sum64()
}

func (c *core) remember(m map[sentKey]time.Time, k sentKey, now time.Time) {
	if len(m) >= maxRemembered {
		c.drop("table_full")
		return
	}
	m[k] = now
}

// sweep forgets, once a second, copies older than their interval and legacy
// queries past their time.
func (c *core) sweep(now time.Time) {
	if now.Sub(c.lastSweep) < time.Second {
		return
	}
	c.lastSweep = now
	for k, t := range c.records {
		if now.Sub(t) >= recordInterval {
			delete(c.records, k)
		}
	}
	for k, t := range c.queries {
		if now.Sub(t) >= queryInterval {
			delete(c.queries, k)
		}
	}
	for id, s := range c.slots {
		if now.After(s.expires) {
			delete(c.slots, id)
		}
	}
}
