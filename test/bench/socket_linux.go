package bench

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"
	"unsafe"

	"github.com/ndproxy/ndproxy/test/netns"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// The measuring sockets are AF_PACKET sockets opened inside the lab's
// namespaces by this process: a socket keeps the namespace it was created
// in, so one process can send on the asker's link and count on the island's
// without helper processes whose own scheduling would blur the numbers.

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// packetSocket opens an AF_PACKET SOCK_DGRAM socket on dev in ns. With
// proto 0 it receives nothing (a sender); with ETH_P_IPV6 it receives the
// IPv6 packets arriving on dev, never the ones leaving it, that filter
// accepts (SOCK_DGRAM: the filter sees the packet from the IPv6 header on).
func packetSocket(ns, dev string, proto uint16, filter []bpf.Instruction) (fd int, link *net.Interface, err error) {
	err = netns.InNamespace(ns, func() error {
		if link, err = net.InterfaceByName(dev); err != nil {
			return err
		}
		// The filter goes on before bind: nothing is queued unfiltered.
		if fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0); err != nil {
			return fmt.Errorf("packet socket: %w", err)
		}
		if filter != nil {
			if err = attachFilter(fd, filter); err != nil {
				unix.Close(fd)
				return err
			}
		}
		if err = unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(proto), Ifindex: link.Index}); err != nil {
			unix.Close(fd)
			return fmt.Errorf("bind to %s in %s: %w", dev, ns, err)
		}
		return nil
	})
	return fd, link, err
}

func attachFilter(fd int, insns []bpf.Instruction) error {
	raw, err := bpf.Assemble(insns)
	if err != nil {
		return err
	}
	prog := make([]unix.SockFilter, len(raw))
	for i, r := range raw {
		prog[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	fp := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fp); err != nil {
		return fmt.Errorf("attach filter: %w", err)
	}
	return nil
}

// sender writes solicitations onto the asker's link. It is safe for
// concurrent use; each goroutine brings its own buffer.
type sender struct {
	fd   int
	link *net.Interface
	nb   nsBuilder
}

func newSender(ns, dev string, src netip.Addr) (*sender, error) {
	fd, link, err := packetSocket(ns, dev, 0, nil)
	if err != nil {
		return nil, err
	}
	return &sender{fd: fd, link: link, nb: nsBuilder{src: src, mac: link.HardwareAddr}}, nil
}

// send solicits target; buf is scratch space of at least nsLen bytes.
func (s *sender) send(buf []byte, target netip.Addr) error {
	pkt, mac := s.nb.build(buf, target)
	sa := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_IPV6), Ifindex: s.link.Index, Halen: 6}
	copy(sa.Addr[:], mac)
	return unix.Sendto(s.fd, pkt, 0, sa)
}

func (s *sender) close() { unix.Close(s.fd) }

// counter counts the packets its filter accepts without reading them: the
// kernel's PACKET_STATISTICS count every accepted packet, queued or dropped
// for a full buffer, so counting costs this process nothing per packet.
type counter struct{ fd int }

func newCounter(ns, dev string, filter []bpf.Instruction) (*counter, error) {
	fd, _, err := packetSocket(ns, dev, unix.ETH_P_IPV6, filter)
	if err != nil {
		return nil, err
	}
	// The smallest buffer: every packet past the first few is dropped,
	// and counted, at once.
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 0)
	return &counter{fd: fd}, nil
}

// take returns the packets counted since the last take (the kernel resets
// its statistics on every read).
func (c *counter) take() (uint64, error) {
	st, err := unix.GetsockoptTpacketStats(c.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	if err != nil {
		return 0, fmt.Errorf("packet statistics: %w", err)
	}
	return uint64(st.Packets), nil // Packets already includes Drops
}

func (c *counter) close() { unix.Close(c.fd) }

// stamped is a received packet's target with the kernel's receive time.
type stamped struct {
	target netip.Addr
	at     time.Time
}

// reader receives the packets its filter accepts, stamped by the kernel as
// they arrive on the link (SO_TIMESTAMPNS), and hands each target to handle
// on its own goroutine.
type reader struct {
	f    *os.File
	done chan struct{}
	// drops is read after close: packets its buffer had no room for.
	drops uint64
}

func newReader(ns, dev string, filter []bpf.Instruction, parse func([]byte) (netip.Addr, error), handle func(stamped)) (*reader, error) {
	fd, _, err := packetSocket(ns, dev, unix.ETH_P_IPV6, filter)
	if err != nil {
		return nil, err
	}
	for _, o := range [][2]int{{unix.SO_TIMESTAMPNS, 1}, {unix.SO_RCVBUFFORCE, 4 << 20}} {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, o[0], o[1]); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("socket option %d: %w", o[0], err)
		}
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, err
	}
	r := &reader{f: os.NewFile(uintptr(fd), "packet"), done: make(chan struct{})}
	rc, err := r.f.SyscallConn()
	if err != nil {
		r.f.Close()
		return nil, err
	}
	go func() {
		defer close(r.done)
		buf, oob := make([]byte, 256), make([]byte, 128)
		for {
			var n, oobn int
			var rerr error
			err := rc.Read(func(fd uintptr) bool {
				n, oobn, _, _, rerr = unix.Recvmsg(int(fd), buf, oob, 0)
				return rerr != unix.EAGAIN
			})
			if err == nil {
				err = rerr
			}
			if err != nil {
				return // closed
			}
			target, err := parse(buf[:n])
			if err != nil {
				continue
			}
			at := rxTime(oob[:oobn])
			if at.IsZero() {
				at = time.Now()
			}
			handle(stamped{target: target, at: at})
		}
	}()
	return r, nil
}

// rxTime returns the SCM_TIMESTAMPNS of a control message, or the zero time.
func rxTime(oob []byte) time.Time {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return time.Time{}
	}
	for _, m := range msgs {
		if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SCM_TIMESTAMPNS && len(m.Data) >= int(unsafe.Sizeof(unix.Timespec{})) {
			ts := (*unix.Timespec)(unsafe.Pointer(&m.Data[0]))
			return time.Unix(int64(ts.Sec), int64(ts.Nsec))
		}
	}
	return time.Time{}
}

// close stops the reader and waits for its goroutine.
func (r *reader) close() {
	rc, err := r.f.SyscallConn()
	if err == nil {
		_ = rc.Control(func(fd uintptr) {
			if st, err := unix.GetsockoptTpacketStats(int(fd), unix.SOL_PACKET, unix.PACKET_STATISTICS); err == nil {
				r.drops = uint64(st.Drops)
			}
		})
	}
	r.f.Close()
	<-r.done
}

// waiters matches answers to the solicitations waiting for them, by target.
type waiters struct {
	mu sync.Mutex // protects m
	m  map[netip.Addr]chan time.Time
}

func (w *waiters) add(target netip.Addr) chan time.Time {
	ch := make(chan time.Time, 1)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m == nil {
		w.m = map[netip.Addr]chan time.Time{}
	}
	w.m[target] = ch
	return ch
}

// remove forgets ch if it is still waiting for target.
func (w *waiters) remove(target netip.Addr, ch chan time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m[target] == ch {
		delete(w.m, target)
	}
}

// deliver is the reader's handle: it wakes whoever waits for the target.
func (w *waiters) deliver(s stamped) {
	w.mu.Lock()
	ch := w.m[s.target]
	delete(w.m, s.target)
	w.mu.Unlock()
	if ch != nil {
		ch <- s.at
	}
}

// errNoAnswer is a solicitation that timed out.
var errNoAnswer = errors.New("no answer")

// resolver sends single solicitations and times their answers.
type resolver struct {
	tx *sender
	w  *waiters
}

// resolve solicits target once and returns the time from just before the
// send to the answer's arrival at the asker's link.
func (r resolver) resolve(target netip.Addr, timeout time.Duration) (time.Duration, error) {
	_, rtt, err := r.resolveAt(target, timeout)
	return rtt, err
}

// resolveAt is resolve that also returns the wall-clock time of the send.
func (r resolver) resolveAt(target netip.Addr, timeout time.Duration) (sent time.Time, rtt time.Duration, err error) {
	buf := make([]byte, nsLen)
	ch := r.w.add(target)
	// at below is wall-clock time from the kernel; Round(0) drops the
	// monotonic reading so that both are compared as wall clock.
	sent = time.Now().Round(0)
	if err := r.tx.send(buf, target); err != nil {
		r.w.remove(target, ch)
		return sent, 0, err
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case at := <-ch:
		return sent, at.Sub(sent), nil
	case <-timer.C:
		r.w.remove(target, ch)
		return sent, 0, fmt.Errorf("%v: %w after %v", target, errNoAnswer, timeout)
	}
}
