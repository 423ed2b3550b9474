package proxy

import (
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/ndproxy/ndproxy/internal/icmp6"
)

// Hosts downstream tell which multicast groups they listen to in Multicast
// Listener Discovery reports (RFC 3810, and RFC 2710 for MLDv1), and every
// host joins the solicited-node group of each of its addresses (RFC 4861
// section 7.2.1), reporting it when the address is configured, before its
// DAD probe. A target whose group nobody reported is very likely absent: a
// flood of random targets (RFC 6583) matches a reported group about once in
// 2^24 / (groups reported). The probe budget therefore keeps a share for
// targets whose group was reported, so that a new host asked for once
// during a flood is still verified. It is a priority, never a filter: a
// host whose reports ndproxy missed (it started later, an MLD snooping
// switch in between, a static address on a host with MLD off) is probed
// from the ordinary budget as before.

// ICMPv6 types of MLD.
const (
	mldQuery    = 130
	mldV1Report = 131
	mldV1Done   = 132
	mldV2Report = 143
)

// MLDv2 multicast address record types (RFC 3810 section 5.2.12).
const (
	recIsInclude   = 1
	recIsExclude   = 2
	recToInclude   = 3
	recToExclude   = 4
	recAllowNew    = 5
	recBlockOld    = 6
	mldRecordFixed = 20
)

// hbhRouterAlert is the hop-by-hop option every MLD message carries (RFC 2711).
const hbhRouterAlert = 5

// groupChange is one solicited-node group a host reported: the low 24 bits
// of the group, and whether it now listens (false: it left).
type groupChange struct {
	suffix uint32
	joined bool
}

// parseMLD validates an IPv6 packet carrying an MLD report or done message
// and returns the solicited-node groups it joins or leaves; other groups are
// of no interest. RFC 3810 section 5: hop limit 1, a hop-by-hop header with
// the Router Alert option, a link-local (or, before the host has one, the
// unspecified) source, a correct checksum.
func parseMLD(b []byte) ([]groupChange, dropReason) {
	if len(b) < icmp6.IPv6HeaderLen+8 {
		return nil, dropShort
	}
	if b[0]>>4 != 6 {
		return nil, dropVersion
	}
	plen := int(binary.BigEndian.Uint16(b[4:6]))
	if icmp6.IPv6HeaderLen+plen > len(b) {
		return nil, dropShort
	}
	b = b[:icmp6.IPv6HeaderLen+plen]
	if b[7] != 1 {
		return nil, dropHopLimit
	}
	src := netip.AddrFrom16([16]byte(b[8:24]))
	dst := netip.AddrFrom16([16]byte(b[24:40]))
	if !src.IsLinkLocalUnicast() && !src.IsUnspecified() {
		return nil, dropSource
	}
	if !dst.IsLinkLocalMulticast() {
		return nil, dropDestination
	}
	// Exactly one hop-by-hop header with the Router Alert option, then
	// ICMPv6.
	if b[6] != 0 {
		return nil, dropNextHeader
	}
	hbh := b[icmp6.IPv6HeaderLen:]
	if len(hbh) < 8 {
		return nil, dropShort
	}
	hlen := (int(hbh[1]) + 1) * 8
	if len(hbh) < hlen {
		return nil, dropShort
	}
	if hbh[0] != icmp6.Proto {
		return nil, dropNextHeader
	}
	if !hasRouterAlert(hbh[2:hlen]) {
		return nil, dropOption
	}
	icmp := hbh[hlen:]
	if len(icmp) < 8 {
		return nil, dropShort
	}
	if icmp[1] != 0 {
		return nil, dropCode
	}
	if icmp6.Checksum(src, dst, icmp) != 0 {
		return nil, dropChecksum
	}
	switch icmp[0] {
	case mldV1Report, mldV1Done:
		if len(icmp) < 24 {
			return nil, dropShort
		}
		s, ok := solicitedSuffix(icmp[8:24])
		if !ok {
			return nil, dropNone
		}
		return []groupChange{{suffix: s, joined: icmp[0] == mldV1Report}}, dropNone
	case mldV2Report:
		return parseRecords(icmp[8:], int(binary.BigEndian.Uint16(icmp[6:8])))
	}
	return nil, dropShort // not a report: the socket filter lets none through
}

// parseRecords walks n multicast address records of an MLDv2 report.
func parseRecords(b []byte, n int) ([]groupChange, dropReason) {
	var out []groupChange
	for range n {
		if len(b) < mldRecordFixed {
			return nil, dropShort
		}
		typ, aux, nsrc := b[0], int(b[1])*4, int(binary.BigEndian.Uint16(b[2:4]))
		l := mldRecordFixed + 16*nsrc + aux
		if len(b) < l {
			return nil, dropShort
		}
		s, ok := solicitedSuffix(b[4:20])
		b = b[l:]
		if !ok {
			continue
		}
		switch typ {
		case recIsExclude, recToExclude:
			// EXCLUDE of any set: it listens (to all sources, for a
			// solicited-node group, which has none).
			out = append(out, groupChange{suffix: s, joined: true})
		case recIsInclude, recAllowNew:
			if nsrc > 0 {
				out = append(out, groupChange{suffix: s, joined: true})
			}
		case recToInclude:
			if nsrc == 0 { // TO_IN({}) is how MLDv2 leaves a group
				out = append(out, groupChange{suffix: s, joined: false})
			}
		case recBlockOld:
		default:
			return nil, dropOption
		}
	}
	return out, dropNone
}

// hasRouterAlert walks hop-by-hop options for a Router Alert.
func hasRouterAlert(opts []byte) bool {
	for len(opts) > 0 {
		if opts[0] == 0 { // Pad1
			opts = opts[1:]
			continue
		}
		if len(opts) < 2 || len(opts) < 2+int(opts[1]) {
			return false
		}
		if opts[0] == hbhRouterAlert && opts[1] == 2 {
			return true
		}
		opts = opts[2+int(opts[1]):]
	}
	return false
}

// solicitedSuffix returns the low 24 bits of a solicited-node group
// (ff02::1:ffXX:XXXX), or false for any other address.
func solicitedSuffix(a []byte) (uint32, bool) {
	prefix := [13]byte{0xff, 0x02, 11: 1, 12: 0xff}
	if [13]byte(a[:13]) != prefix {
		return 0, false
	}
	return uint32(a[13])<<16 | uint32(a[14])<<8 | uint32(a[15]), true
}

// suffixOf returns the low 24 bits of target, the part its solicited-node
// group keeps.
func suffixOf(target netip.Addr) uint32 {
	a := target.As16()
	return uint32(a[13])<<16 | uint32(a[14])<<8 | uint32(a[15])
}

// listeners remembers the solicited-node groups reported on the downstream
// links. It is bounded: past maxListened the oldest report is forgotten,
// which only costs the target its priority. Entries are kept for
// listenerHold after the last report; hosts repeat their reports when a
// querier asks, and a host that left without saying so (switched off) costs
// at most a probe at the priority rate.
type listeners struct {
	seen map[uint32]time.Time
	// order lists reports oldest first, for eviction; entries whose group
	// was reported again since, or left, are skipped when met.
	order []listened
}

type listened struct {
	suffix uint32
	at     time.Time
}

const (
	maxListened  = 16384
	listenerHold = time.Hour
)

func newListeners() listeners { return listeners{seen: map[uint32]time.Time{}} }

func (l *listeners) apply(changes []groupChange, now time.Time) {
	for _, c := range changes {
		if !c.joined {
			delete(l.seen, c.suffix)
			continue
		}
		l.seen[c.suffix] = now
		l.order = append(l.order, listened{c.suffix, now})
	}
	for len(l.order) > 0 && (len(l.seen) > maxListened || len(l.order) > 2*maxListened) {
		o := l.order[0]
		l.order = l.order[1:]
		if at, ok := l.seen[o.suffix]; ok && at.Equal(o.at) {
			delete(l.seen, o.suffix)
		}
	}
}

// has reports whether someone downstream listens to target's group.
func (l *listeners) has(target netip.Addr, now time.Time) bool {
	at, ok := l.seen[suffixOf(target)]
	return ok && now.Sub(at) < listenerHold
}

// mldGeneralQuery is an MLDv2 General Query (RFC 3810 section 5.1) asking
// every listener to report within maxResponse; sent once when an engine
// starts, so that hosts that reported before it ran are known too. It is
// the ICMPv6 part only: the kernel adds the IPv6 header, the checksum and
// the Router Alert option set on the socket.
func mldGeneralQuery(maxResponse time.Duration) []byte {
	b := make([]byte, 28)
	b[0] = mldQuery
	// Maximum Response Code in milliseconds; below 32768 it is the value
	// itself.
	binary.BigEndian.PutUint16(b[4:6], uint16(min(maxResponse.Milliseconds(), 32767)))
	// Multicast Address :: (general), S=0, QRV 2, QQIC 125 s, no sources.
	b[24] = 2
	b[25] = 125
	return b
}
