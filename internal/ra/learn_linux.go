package ra

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/ndproxy/ndproxy/internal/icmp6"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// ndFilter accepts IPv6 packets whose next header is ICMPv6 and whose type is
// RS, NS or NA. The socket is SOCK_DGRAM: offset 0 is the IPv6 header.
var ndFilter = func() []unix.SockFilter {
	raw, err := bpf.Assemble([]bpf.Instruction{
		bpf.LoadAbsolute{Off: 6, Size: 1},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: icmp6.Proto, SkipTrue: 5},
		bpf.LoadAbsolute{Off: icmp6.IPv6HeaderLen, Size: 1},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: icmp6.TypeRS, SkipTrue: 2},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: icmp6.TypeNS, SkipTrue: 1},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: icmp6.TypeNA, SkipTrue: 1},
		bpf.RetConstant{Val: 1 << 16},
		bpf.RetConstant{Val: 0},
	})
	if err != nil {
		panic(err) // a broken constant program
	}
	out := make([]unix.SockFilter, len(raw))
	for i, r := range raw {
		out[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	return out
}()

// learner watches the downstream links for hosts announcing or using
// addresses and hands them to learn. A host that autoconfigured from the
// relayed prefix is known before anyone upstream asks for it: its DAD probe
// is the first packet it sends with the address.
type learner struct {
	log   *slog.Logger
	learn func(netip.Addr, int)

	// mu protects the fields below.
	mu      sync.Mutex
	socks   map[int]*os.File
	seen    map[netip.Addr]time.Time
	delayed int
	closed  bool

	wg sync.WaitGroup
	// queue feeds the one goroutine that calls learn, which may wait for
	// the daemon: the readers never do. done stops it.
	queue chan learned
	done  chan struct{}
}

type learned struct {
	addr netip.Addr
	link int
}

func newLearner(log *slog.Logger, learn func(netip.Addr, int)) *learner {
	l := &learner{log: log, learn: learn, socks: map[int]*os.File{}, seen: map[netip.Addr]time.Time{},
		queue: make(chan learned, maxDelayed), done: make(chan struct{})}
	if learn != nil {
		// Not waited for on close: learn may be waiting for the daemon,
		// which may be waiting for this relay to stop.
		go func() {
			for {
				select {
				case <-l.done:
					return
				case x := <-l.queue:
					learn(x.addr, x.link)
				}
			}
		}()
	}
	return l
}

// hand queues addr for learn, or drops it when the queue is full.
func (l *learner) hand(addr netip.Addr, link int) {
	select {
	case l.queue <- learned{addr, link}:
	default:
	}
}

// setLinks listens on exactly links.
func (l *learner) setLinks(links []Link) {
	if l.learn == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	want := map[int]bool{}
	for _, ln := range links {
		want[ln.Index] = true
		if l.socks[ln.Index] != nil || l.closed {
			continue
		}
		f, err := listenND(ln.Index)
		if err != nil {
			l.log.Warn("cannot watch a downstream link for new hosts", "interface", ln.Name, "err", err)
			continue
		}
		l.socks[ln.Index] = f
		l.wg.Add(1)
		go l.read(f, ln.Index)
	}
	for idx, f := range l.socks {
		if !want[idx] {
			f.Close()
			delete(l.socks, idx)
		}
	}
}

func (l *learner) close() {
	l.mu.Lock()
	if !l.closed {
		close(l.done)
	}
	l.closed = true
	for idx, f := range l.socks {
		f.Close()
		delete(l.socks, idx)
	}
	l.mu.Unlock()
	l.wg.Wait()
}

func (l *learner) read(f *os.File, link int) {
	defer l.wg.Done()
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	buf := make([]byte, 1500)
	for {
		var (
			n    int
			from unix.Sockaddr
			rerr error
		)
		err := rc.Read(func(fd uintptr) bool {
			n, from, rerr = unix.Recvfrom(int(fd), buf, 0)
			return rerr != unix.EAGAIN
		})
		if err == nil {
			err = rerr
		}
		if errors.Is(err, unix.ENETDOWN) {
			continue // works again when the link comes back up
		}
		if err != nil {
			return // closed
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); !ok || ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		if s, ok := parseSighting(buf[:n]); ok {
			l.saw(s, link, time.Now())
		}
	}
}

// saw hands s to learn, unless it was handed over recently; a tentative
// address waits until its DAD is over.
func (l *learner) saw(s sighting, link int, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t, ok := l.seen[s.Addr]; ok && now.Sub(t) < relearnAfter {
		return
	}
	if len(l.seen) >= maxSeen {
		for a, t := range l.seen {
			if now.Sub(t) >= relearnAfter {
				delete(l.seen, a)
			}
		}
		if len(l.seen) >= maxSeen {
			return // a flood of made-up sources: the proxy's budget would refuse them anyway
		}
	}
	l.seen[s.Addr] = now
	if !s.AfterDAD {
		l.log.Debug("downstream host seen", "address", s.Addr, "ifindex", link)
		l.hand(s.Addr, link)
		return
	}
	if l.delayed >= maxDelayed {
		return
	}
	l.delayed++
	l.log.Debug("downstream host doing DAD", "address", s.Addr, "ifindex", link)
	time.AfterFunc(dadWait, func() {
		l.mu.Lock()
		l.delayed--
		closed := l.closed
		l.mu.Unlock()
		if !closed {
			l.hand(s.Addr, link)
		}
	})
}

// listenND opens an AF_PACKET socket on ifindex for RS, NS and NA, with
// ALLMULTI: DAD probes go to the new address's solicited-node group, which
// nobody here has joined.
func listenND(ifindex int) (*os.File, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("packet socket: %w", err)
	}
	prog := unix.SockFprog{Len: uint16(len(ndFilter)), Filter: &ndFilter[0]}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &prog); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("attach filter: %w", err)
	}
	const ethIPv6 = unix.ETH_P_IPV6<<8&0xff00 | unix.ETH_P_IPV6>>8
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: ethIPv6, Ifindex: ifindex}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bind packet socket to ifindex %d: %w", ifindex, err)
	}
	mreq := unix.PacketMreq{Ifindex: int32(ifindex), Type: unix.PACKET_MR_ALLMULTI}
	if err := unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mreq); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("allmulti on ifindex %d: %w", ifindex, err)
	}
	return os.NewFile(uintptr(fd), fmt.Sprintf("packet:%d", ifindex)), nil
}
