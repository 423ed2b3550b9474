package mdns

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func name(s string) Name {
	s = strings.TrimSuffix(s, ".")
	if s == "" {
		return Name{}
	}
	return Name(strings.Split(s, "."))
}

// fullName is a name's uncompressed wire form, for building rdata.
func fullName(s string) []byte { return appendNameFull(nil, name(s)) }

// announcement is what avahi on a pi sends when it comes up: AAAA and A with
// the cache-flush bit, and an NSEC.
func announcement() *Message {
	return &Message{
		Flags: flagQR | 1<<10,
		Answers: []Record{
			{Name: name("pi41.local"), Type: typeAAAA, Class: 1 | topBit, TTL: 120,
				Data: []byte{0xfd, 0x2f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x41}},
			{Name: name("pi41.local"), Type: typeAAAA, Class: 1 | topBit, TTL: 120,
				Data: []byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0x41, 0, 0, 0, 0, 0, 1}},
			{Name: name("pi41.local"), Type: typeA, Class: 1 | topBit, TTL: 120, Data: []byte{10, 41, 0, 41}},
		},
		Additional: []Record{
			{Name: name("pi41.local"), Type: typeNSEC, Class: 1 | topBit, TTL: 120,
				Data: append(fullName("pi41.local"), 0, 4, 0x40, 0, 0, 8)},
		},
	}
}

// service is a DNS-SD answer: PTR, SRV and TXT.
func service() *Message {
	return &Message{
		Flags: flagQR | 1<<10,
		Answers: []Record{
			{Name: name("_ssh._tcp.local"), Type: typePTR, Class: 1, TTL: 4500, Data: fullName("Pi 41._ssh._tcp.local")},
			{Name: name("Pi 41._ssh._tcp.local"), Type: typeSRV, Class: 1 | topBit, TTL: 120,
				Data: append([]byte{0, 0, 0, 0, 0, 22}, fullName("pi41.local")...)},
			{Name: name("Pi 41._ssh._tcp.local"), Type: 16, Class: 1 | topBit, TTL: 4500, Data: []byte{0}},
		},
	}
}

func query() *Message {
	return &Message{
		Flags:     flagTC,
		Questions: []Question{{Name: name("pi41.local"), Type: typeAAAA, Class: 1 | topBit}},
		Answers:   []Record{{Name: name("_ssh._tcp.local"), Type: typePTR, Class: 1, TTL: 4000, Data: fullName("Other._ssh._tcp.local")}},
	}
}

func mustEncode(t testing.TB, m *Message) []byte {
	t.Helper()
	b, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRoundTrip(t *testing.T) {
	for _, m := range []*Message{announcement(), service(), query()} {
		b := mustEncode(t, m)
		got, err := Parse(b)
		if err != nil {
			t.Fatalf("Parse(Encode(%v)): %v", m, err)
		}
		if diff := cmp.Diff(m, got, cmp.Comparer(func(a, b []byte) bool { return bytes.Equal(a, b) })); diff != "" {
			t.Errorf("round trip (-want +got):\n%s", diff)
		}
	}
}

// TestCompression checks that names repeat as pointers, also inside SRV and
// PTR rdata, and that NSEC's next name is written in full.
func TestCompression(t *testing.T) {
	b := mustEncode(t, service())
	if n := bytes.Count(b, []byte("pi41")); n != 1 {
		t.Errorf("pi41 written %d times, want once (SRV target compressed):\n%s", n, hex.Dump(b))
	}
	if n := bytes.Count(b, []byte("_ssh")); n != 1 {
		t.Errorf("_ssh written %d times, want once:\n%s", n, hex.Dump(b))
	}
	b = mustEncode(t, announcement())
	if n := bytes.Count(b, []byte("pi41")); n != 2 {
		t.Errorf("pi41 written %d times, want twice (owner, NSEC next name in full):\n%s", n, hex.Dump(b))
	}
}

// compressedNSEC is an announcement as macOS sends it: the NSEC's next name
// is a pointer to the owner name at offset 12.
var compressedNSEC = func() []byte {
	b := []byte{0, 0, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 0}
	b = append(b, fullName("mac.local")...)
	b = append(b, 0, typeNSEC, 0x80, 1, 0, 0, 0, 120, 0, 8)
	b = append(b, 0xc0, 12, 0, 4, 0x40, 0, 0, 8)
	return b
}()

func TestNSECDecompressed(t *testing.T) {
	m, err := Parse(compressedNSEC)
	if err != nil {
		t.Fatal(err)
	}
	want := append(fullName("mac.local"), 0, 4, 0x40, 0, 0, 8)
	if !bytes.Equal(m.Answers[0].Data, want) {
		t.Errorf("NSEC rdata %x, want %x", m.Answers[0].Data, want)
	}
	// Moved elsewhere in another message, the rdata still means the same.
	m.Questions = []Question{{Name: name("x.y.z"), Type: 255, Class: 1}}
	again, err := Parse(mustEncode(t, m))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Answers[0].Data, want) {
		t.Errorf("NSEC rdata after re-encoding %x, want %x", again.Answers[0].Data, want)
	}
}

func TestParseErrors(t *testing.T) {
	hdr := func(qd, an uint16) []byte { return []byte{0, 0, 0, 0, 0, byte(qd), 0, byte(an), 0, 0, 0, 0} }
	for _, tt := range []struct {
		name string
		b    []byte
		want string
	}{
		{"short", []byte{1, 2, 3}, "shorter than a header"},
		{"counts", hdr(200, 0), "do not fit"},
		{"pointer loop", append(hdr(1, 0), 0xc0, 12, 0, 1, 0, 1), "does not point backwards"},
		{"forward pointer", append(hdr(1, 0), 0xc0, 18, 0, 1, 0, 1, 0), "does not point backwards"},
		{"label type", append(hdr(1, 0), 0x41, 0, 0, 1, 0, 1), "label type"},
		{"label past end", append(hdr(1, 0), 5, 'a', 'b', 0, 0, 0), "past the end"},
		{"rdata past end", append(hdr(0, 1), 0, 0, 1, 0, 1, 0, 0, 0, 1, 0, 9, 1), "past the end"},
		{"srv short", append(hdr(0, 1), 0, 0, 33, 0, 1, 0, 0, 0, 1, 0, 3, 0, 0, 0), "rdata too short"},
		{"ptr trailing", append(hdr(0, 1), 0, 0, 12, 0, 1, 0, 0, 0, 1, 0, 2, 0, 7), "after its names"},
		{"long name", append(append(hdr(1, 0), bytes.Repeat(append([]byte{63}, bytes.Repeat([]byte{'a'}, 63)...), 5)...), 0, 0, 1, 0, 1), "longer than 255"},
	} {
		_, err := Parse(tt.b)
		if err == nil || !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Parse = %v, want an ErrMalformed with %q", tt.name, err, tt.want)
		}
	}
}

func TestEncoderLimit(t *testing.T) {
	e := newEncoder(0, flagQR, 60)
	m := announcement()
	n := 0
	for _, r := range m.Answers {
		if e.record(0, r) {
			n++
		}
	}
	b := e.bytes()
	if len(b) > 60 {
		t.Fatalf("%d bytes past the limit of 60", len(b))
	}
	got, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Answers) != n || n == 0 || n == len(m.Answers) {
		t.Errorf("%d answers written (%d in the message), want some but not all", n, len(got.Answers))
	}
}

// FuzzParse: Parse never panics, and whatever it accepts encodes, parses back
// to the same message and encodes to the same bytes again.
func FuzzParse(f *testing.F) {
	for _, m := range []*Message{announcement(), service(), query()} {
		f.Add(mustEncode(f, m))
	}
	f.Add(compressedNSEC)
	f.Add([]byte{0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		e1, err := m.Encode()
		if err != nil {
			t.Fatalf("Encode of a parsed message: %v", err)
		}
		m2, err := Parse(e1)
		if err != nil {
			t.Fatalf("Parse(Encode(m)): %v\n%s", err, hex.Dump(e1))
		}
		if diff := cmp.Diff(m, m2, cmp.Comparer(func(a, b []byte) bool { return bytes.Equal(a, b) })); diff != "" {
			t.Fatalf("parse → encode → parse changed the message (-first +second):\n%s", diff)
		}
		e2, err := m2.Encode()
		if err != nil || !bytes.Equal(e1, e2) {
			t.Fatalf("encoding is not stable: %v\n%s\n%s", err, hex.Dump(e1), hex.Dump(e2))
		}
	})
}
