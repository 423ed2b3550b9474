package ubus

import (
	"bytes"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// seedCaptures adds every recorded message, or with attrs set every
// DATA/SIGNATURE payload in them.
func seedCaptures(f *testing.F, attrs bool) {
	for _, name := range captureFiles(f) {
		for _, c := range loadCapture(f, name) {
			if !attrs {
				f.Add(c.raw)
				continue
			}
			m := mustParse(f, c)
			for _, a := range m.Attrs {
				if a.ID == AttrData || a.ID == AttrSignature {
					f.Add(a.Data)
				}
			}
		}
	}
}

// A table that parses encodes, and its encoding parses to the same table
// and encodes to the same bytes again.
func FuzzParseTable(f *testing.F) {
	seedCaptures(f, true)
	f.Add([]byte{0x80, 0, 0, 8, 0, 1, 'n', 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		t1, err := ParseTable(b)
		if err != nil {
			return
		}
		enc1, err := AppendTable(nil, t1)
		if err != nil {
			t.Fatalf("parsed table does not encode: %v", err)
		}
		t2, err := ParseTable(enc1)
		if err != nil {
			t.Fatalf("encoding does not parse: %v\n%x", err, enc1)
		}
		enc2, err := AppendTable(nil, t2)
		if err != nil || !bytes.Equal(enc1, enc2) {
			t.Fatalf("unstable: %v\n%x\n%x", err, enc1, enc2)
		}
		if len(t1) != len(t2) {
			t.Fatalf("%d fields became %d", len(t1), len(t2))
		}
	})
}

// A message that parses re-encodes, and that encoding parses to the same
// message; the reader's framing agrees with ParseMessage.
func FuzzParseMessage(f *testing.F) {
	seedCaptures(f, false)
	f.Fuzz(func(t *testing.T, b []byte) {
		if fm, n, err := cutFrame(b); err == nil && n > 0 {
			pm, err := ParseMessage(b[:n])
			if err != nil || cmp.Diff(pm, fm, cmpopts.EquateEmpty()) != "" {
				t.Fatalf("cutFrame and ParseMessage disagree: %v", err)
			}
		}
		m1, err := ParseMessage(b)
		if err != nil {
			return
		}
		for id := AttrUnspec; id <= AttrGroup+1; id++ { // accessors never panic
			m1.Uint32(id)
			m1.Int8(id)
			m1.String(id)
			m1.Table(id)
		}
		enc, err := m1.Marshal()
		if errors.Is(err, errTooLarge) {
			return
		}
		if err != nil {
			t.Fatalf("parsed message does not encode: %v", err)
		}
		m2, err := ParseMessage(enc)
		if err != nil {
			t.Fatalf("encoding does not parse: %v\n%x", err, enc)
		}
		if diff := cmp.Diff(m1, m2, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("unstable (-first +second):\n%s", diff)
		}
	})
}
