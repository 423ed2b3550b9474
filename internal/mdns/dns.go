// Package mdns is the mDNS reflector: it carries multicast DNS between
// links, re-encoding every packet it relays, and keeps addresses the far side
// cannot use from crossing.
package mdns

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// DNS header flags (RFC 1035 §4.1.1) that the reflector looks at.
const (
	flagQR = 1 << 15 // a response
	flagTC = 1 << 9  // truncated: in an mDNS query, more known answers follow (RFC 6762 §7.2)
)

// Record types with a meaning to the reflector or a name inside their rdata.
const (
	typeA     = 1
	typeNS    = 2
	typeCNAME = 5
	typeSOA   = 6
	typePTR   = 12
	typeMX    = 15
	typeAAAA  = 28
	typeSRV   = 33
	typeDNAME = 39
	typeNSEC  = 47
)

// classMask strips the top bit of a class: the unicast-response (QU) bit in a
// question, the cache-flush bit in a record (RFC 6762 §5.4, §10.2).
const (
	classMask = 0x7fff
	topBit    = 0x8000
)

// maxName is the longest name on the wire, length octets included (RFC 1035
// §3.1).
const maxName = 255

// Name is a domain name as its labels, each raw bytes as on the wire (a label
// may hold a dot); the root has none.
type Name []string

// String writes the name in presentation form, escaping dots and bytes that
// are not printable.
func (n Name) String() string {
	if len(n) == 0 {
		return "."
	}
	var b strings.Builder
	for _, l := range n {
		for i := 0; i < len(l); i++ {
			switch c := l[i]; {
			case c == '.' || c == '\\':
				b.WriteByte('\\')
				b.WriteByte(c)
			case c < 0x21 || c > 0x7e:
				fmt.Fprintf(&b, "\\%03d", c)
			default:
				b.WriteByte(c)
			}
		}
		b.WriteByte('.')
	}
	return b.String()
}

// key is the name folded to lower case (DNS names compare case-insensitively
// in ASCII, RFC 4343), with labels length-prefixed so that no two names share
// a key.
func (n Name) key() string { return n.wireKey(true) }

func (n Name) wireKey(fold bool) string {
	var b strings.Builder
	for _, l := range n {
		b.WriteByte(byte(len(l)))
		for i := 0; i < len(l); i++ {
			c := l[i]
			if fold && 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			b.WriteByte(c)
		}
	}
	return b.String()
}

// Question is one entry of the question section. Class carries the QU bit.
type Question struct {
	Name  Name
	Type  uint16
	Class uint16
}

// Record is one resource record. Class carries the cache-flush bit. Data is
// the rdata with every name inside it written out in full (no compression
// pointers), so that it means the same wherever it is copied to.
type Record struct {
	Name  Name
	Type  uint16
	Class uint16
	TTL   uint32
	Data  []byte
}

// Message is a DNS message as mDNS uses it.
type Message struct {
	ID         uint16
	Flags      uint16
	Questions  []Question
	Answers    []Record
	Authority  []Record
	Additional []Record
}

// Response reports whether the QR bit is set.
func (m *Message) Response() bool { return m.Flags&flagQR != 0 }

// ErrMalformed is wrapped by every error Parse returns.
var ErrMalformed = errors.New("malformed DNS message")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// Parse decodes a DNS message. Bytes after the last record are ignored, as
// most resolvers do. It never keeps a reference to b.
func Parse(b []byte) (*Message, error) {
	if len(b) < 12 {
		return nil, malformed("%d bytes, shorter than a header", len(b))
	}
	m := &Message{ID: binary.BigEndian.Uint16(b), Flags: binary.BigEndian.Uint16(b[2:])}
	counts := [4]int{}
	for i := range counts {
		counts[i] = int(binary.BigEndian.Uint16(b[4+2*i:]))
	}
	off := 12
	// Every question takes at least 5 bytes and every record 11: a count
	// the packet cannot hold is refused before anything is allocated.
	if counts[0]*5+(counts[1]+counts[2]+counts[3])*11 > len(b)-off {
		return nil, malformed("counts %v do not fit in %d bytes", counts, len(b))
	}
	if counts[0] > 0 {
		m.Questions = make([]Question, 0, counts[0])
	}
	for i := 0; i < counts[0]; i++ {
		n, next, err := readName(b, off)
		if err != nil {
			return nil, fmt.Errorf("question %d: %w", i, err)
		}
		if next+4 > len(b) {
			return nil, malformed("question %d: truncated", i)
		}
		m.Questions = append(m.Questions, Question{
			Name:  n,
			Type:  binary.BigEndian.Uint16(b[next:]),
			Class: binary.BigEndian.Uint16(b[next+2:]),
		})
		off = next + 4
	}
	sections := []*[]Record{&m.Answers, &m.Authority, &m.Additional}
	for s, sec := range sections {
		if counts[s+1] > 0 {
			*sec = make([]Record, 0, counts[s+1])
		}
		for i := 0; i < counts[s+1]; i++ {
			r, next, err := readRecord(b, off)
			if err != nil {
				return nil, fmt.Errorf("%s record %d: %w", sectionNames[s], i, err)
			}
			*sec = append(*sec, r)
			off = next
		}
	}
	return m, nil
}

var sectionNames = [3]string{"answer", "authority", "additional"}

func readRecord(b []byte, off int) (Record, int, error) {
	n, off, err := readName(b, off)
	if err != nil {
		return Record{}, 0, err
	}
	if off+10 > len(b) {
		return Record{}, 0, malformed("truncated record header")
	}
	r := Record{
		Name:  n,
		Type:  binary.BigEndian.Uint16(b[off:]),
		Class: binary.BigEndian.Uint16(b[off+2:]),
		TTL:   binary.BigEndian.Uint32(b[off+4:]),
	}
	rdlen := int(binary.BigEndian.Uint16(b[off+8:]))
	start := off + 10
	end := start + rdlen
	if end > len(b) {
		return Record{}, 0, malformed("rdata of %d bytes runs past the end", rdlen)
	}
	r.Data, err = expandRData(b, r.Type, start, end)
	if err != nil {
		return Record{}, 0, fmt.Errorf("%s type %d: %w", n, r.Type, err)
	}
	return r, end, nil
}

// layout says where the names are in the rdata of type t: fixed bytes before
// them, how many names, and how many bytes after them (-1: any number).
// These are the types whose rdata names may be compressed (RFC 6762 §18.14
// lists them for mDNS; RFC 3597 §4 the classic ones). Other rdata is opaque.
func layout(t uint16) (pre, names, post int, ok bool) {
	switch t {
	case typeNS, typeCNAME, typePTR, typeDNAME:
		return 0, 1, 0, true
	case typeMX:
		return 2, 1, 0, true
	case typeSRV:
		return 6, 1, 0, true
	case typeSOA:
		return 0, 2, 20, true
	case typeNSEC:
		return 0, 1, -1, true
	}
	return 0, 0, 0, false
}

// expandRData returns the rdata of type t at b[start:end] with its names
// decompressed (a pointer may reach anywhere earlier in the message, which is
// why reflectors that copy NSEC rdata as opaque bytes corrupt it, avahi #379).
func expandRData(b []byte, t uint16, start, end int) ([]byte, error) {
	pre, names, post, ok := layout(t)
	if !ok {
		return append([]byte{}, b[start:end]...), nil
	}
	if start+pre > end {
		return nil, malformed("rdata too short")
	}
	out := append([]byte{}, b[start:start+pre]...)
	off := start + pre
	for i := 0; i < names; i++ {
		n, next, err := readName(b[:end], off)
		if err != nil {
			return nil, fmt.Errorf("rdata: %w", err)
		}
		out = appendNameFull(out, n)
		off = next
	}
	if post >= 0 && end-off != post {
		return nil, malformed("rdata has %d bytes after its names, want %d", end-off, post)
	}
	return append(out, b[off:end]...), nil
}

// readName reads the name at b[off:], following compression pointers, and
// returns it with the offset just past it where it started.
func readName(b []byte, off int) (Name, int, error) {
	var n Name
	wire := 1 // the root's zero byte
	next := -1
	// Each pointer must point before the label it replaces: names can
	// only go backwards, so there is no loop.
	limit := off
	for {
		if off >= len(b) {
			return nil, 0, malformed("name runs past the end")
		}
		c := int(b[off])
		switch c & 0xc0 {
		case 0x00:
			if c == 0 {
				if next < 0 {
					next = off + 1
				}
				return n, next, nil
			}
			if off+1+c > len(b) {
				return nil, 0, malformed("label runs past the end")
			}
			wire += 1 + c
			if wire > maxName {
				return nil, 0, malformed("name longer than %d bytes", maxName)
			}
			n = append(n, string(b[off+1:off+1+c]))
			off += 1 + c
		case 0xc0:
			if off+2 > len(b) {
				return nil, 0, malformed("truncated compression pointer")
			}
			ptr := int(binary.BigEndian.Uint16(b[off:]) & 0x3fff)
			if ptr >= limit {
				return nil, 0, malformed("compression pointer %d does not point backwards", ptr)
			}
			if next < 0 {
				next = off + 2
			}
			limit = ptr
			off = ptr
		default:
			return nil, 0, malformed("label type %#x", c&0xc0)
		}
	}
}

// appendNameFull writes n without compression.
func appendNameFull(b []byte, n Name) []byte {
	for _, l := range n {
		b = append(b, byte(len(l)))
		b = append(b, l...)
	}
	return append(b, 0)
}

// Encode writes m with name compression. It fails only for a message no
// parser produced (an oversized name or rdata).
func (m *Message) Encode() ([]byte, error) {
	e := newEncoder(m.ID, m.Flags, 0)
	for _, q := range m.Questions {
		if !e.question(q) {
			return nil, e.err
		}
	}
	for s, sec := range [][]Record{m.Answers, m.Authority, m.Additional} {
		for _, r := range sec {
			if !e.record(s, r) {
				return nil, e.err
			}
		}
	}
	return e.bytes(), nil
}

// encoder builds one message, section by section, within a size limit.
type encoder struct {
	buf    []byte
	limit  int // 0: none but the 16-bit rdata length
	counts [4]uint16
	// names maps the key of every name suffix written so far to its
	// offset, for compression pointers (RFC 1035 §4.1.4).
	names map[string]int
	// added lists the keys the current item put into names, to take
	// them out again when the item does not fit.
	added []string
	err   error
}

var (
	errTooBig = errors.New("does not fit")
	errName   = errors.New("name too long")
)

func newEncoder(id, flags uint16, limit int) *encoder {
	e := &encoder{buf: make([]byte, 12, 512), limit: limit, names: map[string]int{}}
	binary.BigEndian.PutUint16(e.buf, id)
	binary.BigEndian.PutUint16(e.buf[2:], flags)
	return e
}

func (e *encoder) bytes() []byte {
	for i, c := range e.counts {
		binary.BigEndian.PutUint16(e.buf[4+2*i:], c)
	}
	return e.buf
}

// empty reports whether nothing but the header has been written.
func (e *encoder) empty() bool { return len(e.buf) == 12 }

// question appends q; on false nothing was written and e.err says why.
func (e *encoder) question(q Question) bool {
	mark := e.begin()
	e.name(q.Name)
	e.buf = binary.BigEndian.AppendUint16(e.buf, q.Type)
	e.buf = binary.BigEndian.AppendUint16(e.buf, q.Class)
	return e.end(mark, 0)
}

// record appends r to section s (0 answers, 1 authority, 2 additional). The
// sections must be written in order.
func (e *encoder) record(s int, r Record) bool {
	mark := e.begin()
	e.name(r.Name)
	e.buf = binary.BigEndian.AppendUint16(e.buf, r.Type)
	e.buf = binary.BigEndian.AppendUint16(e.buf, r.Class)
	e.buf = binary.BigEndian.AppendUint32(e.buf, r.TTL)
	lenAt := len(e.buf)
	e.buf = append(e.buf, 0, 0)
	e.rdata(r.Type, r.Data)
	rdlen := len(e.buf) - lenAt - 2
	if rdlen > 0xffff {
		e.err = fmt.Errorf("%s: rdata of %d bytes", r.Name, rdlen)
	}
	binary.BigEndian.PutUint16(e.buf[lenAt:], uint16(rdlen))
	return e.end(mark, s+1)
}

func (e *encoder) begin() int {
	e.added = e.added[:0]
	e.err = nil
	return len(e.buf)
}

// end counts the item in section sec, or takes it back when it broke the
// limit or failed.
func (e *encoder) end(mark, sec int) bool {
	if e.err == nil && e.limit > 0 && len(e.buf) > e.limit {
		e.err = errTooBig
	}
	if e.err == nil && e.counts[sec] == 0xffff {
		e.err = errTooBig
	}
	if e.err != nil {
		e.buf = e.buf[:mark]
		for _, k := range e.added {
			delete(e.names, k)
		}
		return false
	}
	e.counts[sec]++
	return true
}

// name writes n, compressed against every name written before.
func (e *encoder) name(n Name) {
	if wireLen(n) > maxName {
		e.err = errName
		return
	}
	for _, l := range n {
		if len(l) == 0 || len(l) > 63 {
			e.err = fmt.Errorf("%w: label of %d bytes", errName, len(l))
			return
		}
	}
	for i := range n {
		// Case kept: a pointer to "Pi.local" must not turn
		// "pi.local" into it.
		k := n[i:].wireKey(false)
		if off, ok := e.names[k]; ok {
			e.buf = binary.BigEndian.AppendUint16(e.buf, 0xc000|uint16(off))
			return
		}
		if len(e.buf) <= 0x3fff {
			e.names[k] = len(e.buf)
			e.added = append(e.added, k)
		}
		e.buf = append(e.buf, byte(len(n[i])))
		e.buf = append(e.buf, n[i]...)
	}
	e.buf = append(e.buf, 0)
}

// rdata writes the expanded rdata of type t, compressing its names where
// receivers expect that (RFC 6762 §18.14). NSEC's next name goes out in full:
// parsers that treat its rdata as opaque (avahi) then still read it right.
func (e *encoder) rdata(t uint16, d []byte) {
	pre, names, _, ok := layout(t)
	if !ok || t == typeNSEC {
		e.buf = append(e.buf, d...)
		return
	}
	// d came from expandRData: fixed bytes, full names, the rest.
	e.buf = append(e.buf, d[:pre]...)
	off := pre
	for i := 0; i < names; i++ {
		n, next, err := readName(d, off)
		if err != nil {
			e.err = err
			return
		}
		e.name(n)
		off = next
	}
	e.buf = append(e.buf, d[off:]...)
}

func wireLen(n Name) int {
	l := 1
	for _, s := range n {
		l += 1 + len(s)
	}
	return l
}
