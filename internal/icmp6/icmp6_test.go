package icmp6

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/mdlayher/ndp"
)

// Checksum agrees with mdlayher/ndp's, an independent implementation; over a
// filled-in message it is 0, and a flipped bit or another address breaks it.
func TestChecksum(t *testing.T) {
	src, dst := netip.MustParseAddr("fe80::1"), netip.MustParseAddr("ff02::2")
	for _, m := range []ndp.Message{
		&ndp.RouterSolicitation{},
		&ndp.NeighborSolicitation{TargetAddress: netip.MustParseAddr("2001:db8::1"),
			Options: []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Source, Addr: []byte{2, 0, 0, 0, 0, 1}}}},
	} {
		msg, err := ndp.MarshalMessageChecksum(m, src, dst)
		if err != nil {
			t.Fatal(err)
		}
		want := binary.BigEndian.Uint16(msg[2:4])
		if c := Checksum(src, dst, msg); c != 0 {
			t.Errorf("% x: checksum over the filled-in message is %#04x, want 0", msg, c)
		}
		msg[2], msg[3] = 0, 0
		if got := Checksum(src, dst, msg); got != want {
			t.Errorf("% x: checksum %#04x, mdlayher/ndp says %#04x", msg, got, want)
		}
		binary.BigEndian.PutUint16(msg[2:4], want)
		for i := range msg {
			msg[i] ^= 0x10
			if Checksum(src, dst, msg) == 0 {
				t.Errorf("% x: a flipped bit in byte %d goes unnoticed", msg, i)
			}
			msg[i] ^= 0x10
		}
		if Checksum(src, netip.MustParseAddr("ff02::1"), msg) == 0 {
			t.Errorf("% x: checksum does not cover the destination", msg)
		}
	}
}
