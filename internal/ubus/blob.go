package ubus

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// A blob attribute (libubox blob.h struct blob_attr) is a big-endian uint32
// header followed by a payload and zero padding up to a multiple of 4 bytes:
//
//	bit 31      extended: a blobmsg attribute, whose payload starts with a name
//	bits 30..24 id (ubus attribute id, or blobmsg type)
//	bits 23..0  length, counting the header, not the padding
//
// A nested attribute's payload is a list of attributes, each padded, so the
// container's length always covers its children's padding (blob_nest_end).
const (
	attrHeaderLen = 4
	attrExtended  = 1 << 31
	attrIDShift   = 24
	attrIDMask    = 0x7f
	attrLenMask   = 1<<24 - 1
	attrAlign     = 4
)

// errTruncated reports an attribute that claims more bytes than its container has.
var errTruncated = errors.New("attribute truncated")

// pad4 rounds n up to the attribute alignment (blob_pad_len).
func pad4(n int) int {
	return (n + attrAlign - 1) &^ (attrAlign - 1)
}

// rawAttr is one attribute as found on the wire, payload without padding.
type rawAttr struct {
	id       uint8
	extended bool
	payload  []byte
}

// splitAttr cuts the first attribute off b and returns it with the bytes that
// follow its padding. Unlike libubox, which silently stops iterating at a bad
// attribute, it reports an error: a peer that sends one is broken, and
// guessing would hide it.
func splitAttr(b []byte) (rawAttr, []byte, error) {
	if len(b) < attrHeaderLen {
		return rawAttr{}, nil, fmt.Errorf("%w: %d bytes left, header needs %d", errTruncated, len(b), attrHeaderLen)
	}
	h := binary.BigEndian.Uint32(b)
	n := int(h & attrLenMask)
	if n < attrHeaderLen {
		return rawAttr{}, nil, fmt.Errorf("attribute length %d is shorter than its header", n)
	}
	// libubox (blob_for_each_attr) needs the padding inside the container too.
	if pad4(n) > len(b) {
		return rawAttr{}, nil, fmt.Errorf("%w: length %d, %d bytes left", errTruncated, n, len(b))
	}
	a := rawAttr{
		id:       uint8(h >> attrIDShift & attrIDMask),
		extended: h&attrExtended != 0,
		payload:  b[attrHeaderLen:n],
	}
	return a, b[pad4(n):], nil
}

// beginAttr appends a placeholder header for an attribute whose payload the
// caller appends next; endAttr then fills in the header and the padding.
func beginAttr(dst []byte) ([]byte, int) {
	return append(dst, 0, 0, 0, 0), len(dst)
}

// endAttr completes the attribute begun at start: the header gets id, the
// extended flag and the length of everything appended since, then zero
// padding follows (blob_fill_pad).
func endAttr(dst []byte, start int, id uint8, extended bool) ([]byte, error) {
	n := len(dst) - start
	if n > attrLenMask {
		return dst[:start], fmt.Errorf("attribute of %d bytes exceeds the 24-bit length field", n)
	}
	h := uint32(id&attrIDMask)<<attrIDShift | uint32(n)
	if extended {
		h |= attrExtended
	}
	binary.BigEndian.PutUint32(dst[start:], h)
	for len(dst)-start < pad4(n) {
		dst = append(dst, 0)
	}
	return dst, nil
}

// appendAttr appends a complete attribute holding payload.
func appendAttr(dst []byte, id uint8, extended bool, payload []byte) ([]byte, error) {
	dst, start := beginAttr(dst)
	dst = append(dst, payload...)
	return endAttr(dst, start, id, extended)
}
