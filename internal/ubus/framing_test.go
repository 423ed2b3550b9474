package ubus

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
)

// chunkReader hands out a byte stream in pieces of a fixed size.
type chunkReader struct {
	data []byte
	size int
}

func (r *chunkReader) ReadMsgUnix(b, oob []byte) (int, int, int, *net.UnixAddr, error) {
	if len(r.data) == 0 {
		return 0, 0, 0, nil, nil // what a stream socket's recvmsg gives at EOF
	}
	n := copy(b[:min(len(b), r.size)], r.data)
	r.data = r.data[n:]
	return n, 0, 0, nil, nil
}

// ubusd writes messages in whatever pieces the socket takes, and several
// may come in one read: the reader finds the same messages either way.
func TestFrameReaderSplits(t *testing.T) {
	var stream []byte
	var want [][]byte
	for _, c := range loadCapture(t, "socat-register-listen.txt") {
		if c.fromServer {
			stream = append(stream, c.raw...)
			want = append(want, c.raw)
		}
	}
	for _, size := range []int{1, 2, 3, 5, 11, 12, 13, 64, 1 << 16} {
		r := newFrameReader(&chunkReader{data: stream, size: size})
		for i, w := range want {
			m, err := r.next()
			if err != nil {
				t.Fatalf("size %d, message %d: %v", size, i, err)
			}
			if got, _ := m.Marshal(); !bytes.Equal(got, w) {
				t.Fatalf("size %d, message %d:\n got %x\nwant %x", size, i, got, w)
			}
		}
		if _, err := r.next(); !errors.Is(err, io.EOF) {
			t.Fatalf("size %d: after the last message: %v", size, err)
		}
	}
}

// The header checks libubus makes before trusting a length.
func TestCutFrameRejects(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"version 1", "01 00 00 00 00 00 00 00 00 00 00 04", "version 1"},
		{"body shorter than its header", "00 00 00 00 00 00 00 00 00 00 00 03", "out of range"},
		{"body over 1 MiB", "00 00 00 00 00 00 00 00 00 10 00 01", "out of range"},
		{"bad attribute", "00 01 00 01 00 00 00 00 00 00 00 08 01 00 00 02", "shorter than its header"},
	}
	for _, tt := range tests {
		_, _, err := cutFrame(unhex(t, tt.in))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.want)
		}
	}
	if _, n, err := cutFrame(unhex(t, "00 00 00 00 00 00 00 00 00 00 00 08 01")); n != 0 || err != nil {
		t.Errorf("incomplete message: n %d, error %v", n, err)
	}
}
