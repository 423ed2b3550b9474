package ubus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"
)

// ErrClosed is returned by everything after Client.Close.
var ErrClosed = errors.New("ubus client closed")

// helloTimeout bounds the wait for ubusd's HELLO, which it sends at once;
// a ubusd that accepts and stays silent is wedged.
const helloTimeout = 5 * time.Second

// session is one connection to ubusd, from HELLO until the socket fails.
// Its reader goroutine matches replies to requests by (seq, peer), as
// libubus does (ubus_find_request), and hands everything else to push.
type session struct {
	conn *net.UnixConn
	path string
	id   uint32 // our client id, from HELLO
	r    *frameReader
	done chan struct{} // closed when the reader goroutine has returned

	wmu sync.Mutex // serializes writes: one message per Write, never interleaved

	mu      sync.Mutex // guards the following
	seq     uint16
	pending map[reqKey]*request
	err     error // why the session ended; nil while it lives
}

type reqKey struct {
	seq  uint16
	peer uint32
}

// request collects the replies to one message: DATA messages, then STATUS.
type request struct {
	// onReply, if set, sees each reply on the reader goroutine, before any
	// later message is read, so that what it records is in place when the
	// next message (a call to a new object, say) is handled. It must not block.
	onReply func(Message)

	done chan struct{} // closed when status or err is set
	// Set before done is closed, read after.
	data   []Message
	status Status
	err    error
}

// dialSession connects to path and reads HELLO, which tells us our id.
func dialSession(ctx context.Context, path string) (*session, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, err
	}
	conn := c.(*net.UnixConn)
	// ctx interrupts the read through the deadline, and so is told apart
	// from ubusd being silent for helloTimeout.
	conn.SetReadDeadline(time.Now().Add(helloTimeout))
	stop := context.AfterFunc(ctx, func() { conn.SetReadDeadline(time.Unix(1, 0)) })
	s := &session{
		conn:    conn,
		path:    path,
		r:       newFrameReader(conn),
		done:    make(chan struct{}),
		pending: make(map[reqKey]*request),
	}
	m, err := s.r.next()
	if !stop() {
		// ctx ended, and its deadline poke may still land after any reset.
		conn.Close()
		return nil, fmt.Errorf("wait for hello: %w", ctx.Err())
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("wait for hello: %w", err)
	}
	conn.SetReadDeadline(time.Time{})
	// libubus (ubus_reconnect) refuses ids 0 and 1: 1 marks a channel.
	if m.Type != MsgHello || m.Peer <= 1 {
		conn.Close()
		return nil, fmt.Errorf("expected hello with a client id, got %v peer %#x", m.Type, m.Peer)
	}
	s.id = m.Peer
	return s, nil
}

// readLoop runs on the session's reader goroutine until the socket fails.
// push receives every message that is not a reply; it must not block.
func (s *session) readLoop(log *slog.Logger, push func(*session, Message)) {
	defer close(s.done)
	s.r.onFDs = func(n int, truncated bool) {
		log.Debug("closed file descriptors passed by ubusd", "count", n, "truncated", truncated)
	}
	for {
		m, err := s.r.next()
		if err != nil {
			s.close(err)
			return
		}
		switch m.Type {
		case MsgStatus, MsgData:
			s.deliver(log, m)
		default:
			push(s, m)
		}
	}
}

// deliver hands a reply to its request; replies nobody waits for (a
// request given up on) are dropped.
func (s *session) deliver(log *slog.Logger, m Message) {
	s.mu.Lock()
	req := s.pending[reqKey{m.Seq, m.Peer}]
	if req != nil && m.Type == MsgStatus {
		delete(s.pending, reqKey{m.Seq, m.Peer})
	}
	s.mu.Unlock()
	if req == nil {
		log.Debug("dropped unexpected reply", "type", m.Type, "seq", m.Seq, "peer", hexID(m.Peer))
		return
	}
	if req.onReply != nil {
		req.onReply(m)
	}
	if m.Type == MsgData {
		req.data = append(req.data, m) // only the reader goroutine touches it before done
		return
	}
	// A STATUS without its attribute is INVALID_ARGUMENT to libubus too.
	req.status = StatusInvalidArgument
	if v, ok := m.Uint32(AttrStatus); ok {
		req.status = Status(int32(v))
	}
	close(req.done)
}

// roundTrip sends m as a new request and waits for its STATUS. A non-OK
// status comes back as the error, with whatever DATA arrived before it.
func (s *session) roundTrip(ctx context.Context, m Message, onReply func(Message)) ([]Message, error) {
	req := &request{onReply: onReply, done: make(chan struct{})}
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return nil, s.failure()
	}
	seq, ok := s.nextSeqLocked(m.Peer)
	if !ok {
		s.mu.Unlock()
		return nil, fmt.Errorf("%v: all sequence numbers in use", m.Type)
	}
	key := reqKey{seq, m.Peer}
	s.pending[key] = req
	s.mu.Unlock()

	m.Seq = seq
	if err := s.send(m); err != nil {
		s.forget(key)
		return nil, err
	}
	select {
	case <-req.done:
	case <-ctx.Done():
		select {
		case <-req.done: // answered as well: the answer wins
		default:
			s.forget(key)
			return nil, ctx.Err()
		}
	}
	if req.err != nil {
		return nil, req.err
	}
	if req.status != StatusOK {
		return req.data, req.status
	}
	return req.data, nil
}

// post sends m with a fresh sequence number and expects no answer.
func (s *session) post(m Message) error {
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return s.failure()
	}
	m.Seq, _ = s.nextSeqLocked(m.Peer)
	s.mu.Unlock()
	return s.send(m)
}

// nextSeqLocked picks a sequence number no pending request to peer uses.
// Must hold s.mu.
func (s *session) nextSeqLocked(peer uint32) (uint16, bool) {
	for range 1 << 16 {
		s.seq++
		if _, busy := s.pending[reqKey{s.seq, peer}]; !busy {
			return s.seq, true
		}
	}
	return 0, false
}

func (s *session) forget(key reqKey) {
	s.mu.Lock()
	delete(s.pending, key)
	s.mu.Unlock()
}

// send writes one message. A failed write ends the session: the stream may
// hold half a message now.
func (s *session) send(m Message) error {
	b, err := m.Marshal()
	if err != nil {
		return err
	}
	s.wmu.Lock()
	_, err = s.conn.Write(b)
	s.wmu.Unlock()
	if err != nil {
		s.close(err)
		return s.failure()
	}
	return nil
}

// close ends the session for reason: the socket is closed and every pending
// request fails. Only the first reason counts.
func (s *session) close(reason error) {
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return
	}
	s.err = reason
	pending := s.pending
	s.pending = nil
	s.mu.Unlock()

	s.conn.Close()
	err := s.failure()
	for _, req := range pending {
		req.err = err
		close(req.done)
	}
}

// reason is why the session ended, nil while it lives.
func (s *session) reason() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// alive reports whether the session still works.
func (s *session) alive() bool {
	return s.reason() == nil
}

// failure is the error requests on a dead session get.
func (s *session) failure() error {
	reason := s.reason()
	if errors.Is(reason, ErrClosed) {
		return ErrClosed
	}
	return fmt.Errorf("ubusd connection lost: %w (%v)", StatusConnectionFailed, reason)
}
