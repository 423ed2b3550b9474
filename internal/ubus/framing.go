package ubus

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
)

// msgReader is what the frame reader needs from a connection; *net.UnixConn
// has it. Reading with room for control messages matters: any ubus message
// may arrive with a file descriptor attached (SCM_RIGHTS), and one that is
// never received leaks in our process.
type msgReader interface {
	ReadMsgUnix(b, oob []byte) (n, oobn, flags int, addr *net.UnixAddr, err error)
}

// frameReader cuts a ubusd byte stream into messages. Stream reads may end
// anywhere: ubusd writes a message in as many pieces as the socket takes and
// may put several into one read.
type frameReader struct {
	conn msgReader
	buf  []byte // received, not yet returned
	rbuf []byte
	oob  []byte
	// onFDs learns how many descriptors arrived, after they were closed.
	onFDs func(n int, truncated bool)
}

func newFrameReader(conn msgReader) *frameReader {
	return &frameReader{
		conn: conn,
		rbuf: make([]byte, 64<<10),
		oob:  make([]byte, oobSpace()),
	}
}

// next returns the next message.
func (r *frameReader) next() (Message, error) {
	for {
		m, n, err := cutFrame(r.buf)
		if err != nil {
			return Message{}, err
		}
		if n > 0 {
			r.buf = r.buf[:copy(r.buf, r.buf[n:])]
			return m, nil
		}
		n, oobn, flags, _, err := r.conn.ReadMsgUnix(r.rbuf, r.oob)
		if oobn > 0 {
			fds := closeRights(r.oob[:oobn])
			if r.onFDs != nil {
				r.onFDs(fds, truncated(flags))
			}
		}
		if err != nil { // n may be -1 then
			return Message{}, err
		}
		r.buf = append(r.buf, r.rbuf[:n]...)
		if n == 0 && oobn == 0 {
			return Message{}, io.EOF
		}
	}
}

// cutFrame returns the first message in b and its length, or a zero length
// if b does not hold all of it yet. It checks the header as libubus's
// ubus_validate_hdr does before trusting the length.
func cutFrame(b []byte) (Message, int, error) {
	if len(b) < headerLen {
		return Message{}, 0, nil
	}
	if b[0] != 0 {
		return Message{}, 0, fmt.Errorf("unsupported message version %d", b[0])
	}
	bodyLen := int(binary.BigEndian.Uint32(b[8:]) & attrLenMask)
	if bodyLen < attrHeaderLen || pad4(bodyLen) > MaxMessageLen {
		return Message{}, 0, fmt.Errorf("message body length %d out of range", bodyLen)
	}
	n := 8 + bodyLen
	if len(b) < n {
		return Message{}, 0, nil
	}
	m, err := ParseMessage(b[:n])
	return m, n, err
}
