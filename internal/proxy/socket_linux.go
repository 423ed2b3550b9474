package proxy

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"

	"github.com/ndproxy/ndproxy/internal/icmp6"
	"golang.org/x/net/bpf"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// nsFilter accepts IPv6 packets whose next header is ICMPv6 and whose ICMPv6
// type is Neighbor Solicitation. The socket is SOCK_DGRAM, so offset 0 is the
// IPv6 header on Ethernet and on L3 tunnels alike.
var nsFilter = mustAssemble([]bpf.Instruction{
	bpf.LoadAbsolute{Off: 6, Size: 1},
	bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: icmp6.Proto, SkipTrue: 3},
	bpf.LoadAbsolute{Off: icmp6.IPv6HeaderLen, Size: 1},
	bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: icmp6.TypeNS, SkipTrue: 1},
	bpf.RetConstant{Val: 1 << 16},
	bpf.RetConstant{Val: 0},
})

func mustAssemble(insns []bpf.Instruction) []unix.SockFilter {
	raw, err := bpf.Assemble(insns)
	if err != nil {
		panic(err)
	}
	out := make([]unix.SockFilter, len(raw))
	for i, r := range raw {
		out[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	return out
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// packetConn receives Neighbor Solicitations on one link and sends Neighbor
// Advertisements on it, and probes on the downstream links. It is an
// AF_PACKET socket because a raw ICMPv6 socket sees only groups the host
// joined, while NS for a proxied target go to that target's solicited-node
// group, or are unicast to its address.
type packetConn struct {
	f       *os.File
	rc      syscall.RawConn
	ifindex int
}

func listenPacket(ifindex int) (*packetConn, error) {
	// Protocol 0 until bind: no packet is queued before the filter is on.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("packet socket: %w", err)
	}
	prog := unix.SockFprog{Len: uint16(len(nsFilter)), Filter: &nsFilter[0]}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &prog); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("attach filter: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_IPV6), Ifindex: ifindex}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bind packet socket to ifindex %d: %w", ifindex, err)
	}
	// ALLMULTI: receive every solicited-node group, not only joined ones. It
	// does not generate MLD reports; joining groups of known targets does.
	mreq := unix.PacketMreq{Ifindex: int32(ifindex), Type: unix.PACKET_MR_ALLMULTI}
	if err := unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mreq); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("allmulti on ifindex %d: %w", ifindex, err)
	}
	// A burst of solicitations must wait in the socket, not be dropped by
	// the kernel before the reader gets to it: ask for 4 MiB, beyond
	// rmem_max where CAP_NET_ADMIN allows, and settle for the default.
	const rcvbuf = 4 << 20
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvbuf) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvbuf)
	}
	f := os.NewFile(uintptr(fd), fmt.Sprintf("packet:%d", ifindex))
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &packetConn{f: f, rc: rc, ifindex: ifindex}, nil
}

// read returns the next packet not sent by this host, and the link-layer
// address of its sender.
func (c *packetConn) read(buf []byte) (int, net.HardwareAddr, error) {
	n, ll, err := c.recv(buf)
	if err != nil {
		return 0, nil, err
	}
	return n, net.HardwareAddr(append([]byte(nil), ll.Addr[:ll.Halen]...)), nil
}

// recv returns the next packet not sent by this host, with where it came
// from. A link going down is waited out: the socket stays bound and works
// again when the link comes back up.
func (c *packetConn) recv(buf []byte) (int, *unix.SockaddrLinklayer, error) {
	for {
		var (
			n    int
			from unix.Sockaddr
			rerr error
		)
		err := c.rc.Read(func(fd uintptr) bool {
			n, from, rerr = unix.Recvfrom(int(fd), buf, 0)
			return rerr != unix.EAGAIN
		})
		if err == nil {
			err = rerr
		}
		if errors.Is(err, unix.ENETDOWN) {
			continue
		}
		if err != nil {
			return 0, nil, err
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype != unix.PACKET_OUTGOING {
			return n, ll, nil
		}
	}
}

// write sends an IPv6 packet to the link-layer address mac (none on links
// without link-layer addresses) on the socket's link.
func (c *packetConn) write(pkt []byte, mac net.HardwareAddr) error {
	return c.writeOn(c.ifindex, pkt, mac)
}

// writeOn is write on any link: a packet socket sends where the address
// says, whatever link it is bound to for receiving.
func (c *packetConn) writeOn(ifindex int, pkt []byte, mac net.HardwareAddr) error {
	sa := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_IPV6), Ifindex: ifindex, Halen: uint8(len(mac))}
	copy(sa.Addr[:], mac)
	var werr error
	err := c.rc.Write(func(fd uintptr) bool {
		werr = unix.Sendto(int(fd), pkt, 0, sa)
		return werr != unix.EAGAIN
	})
	if err != nil {
		return err
	}
	return werr
}

func (c *packetConn) close() error { return c.f.Close() }

// linkSource returns the address the kernel would send link-scope
// multicast from on link ifindex (its link-local address, RFC 6724 rule 2),
// by connecting a UDP socket and reading what it chose. Tentative addresses
// are not chosen: the kernel's own source selection skips them.
func linkSource(ifindex int) (netip.Addr, error) {
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("udp socket: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Connect(fd, &unix.SockaddrInet6{Port: 9, Addr: allNodes.As16(), ZoneId: uint32(ifindex)}); err != nil {
		return netip.Addr{}, fmt.Errorf("no source address on ifindex %d: %w", ifindex, err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return netip.Addr{}, err
	}
	in6, ok := sa.(*unix.SockaddrInet6)
	if !ok {
		return netip.Addr{}, fmt.Errorf("no IPv6 source address on ifindex %d", ifindex)
	}
	return netip.AddrFrom16(in6.Addr), nil
}

// icmpConn sends probes downstream, receives the Neighbor Advertisements that
// answer them, and holds the solicited-node group memberships of verified
// targets on the upstream: joining makes the kernel send MLD reports, without
// which Wi-Fi access points and MLD-snooping switches never forward the
// multicast solicitations for those targets.
type icmpConn struct {
	c  net.PacketConn
	pc *ipv6.PacketConn
	rc syscall.RawConn
	// fd is the socket's descriptor, read without the runtime's poller by
	// pollNA, which the engine serialises with close.
	fd int
}

func listenICMP() (*icmpConn, error) {
	c, pc, err := icmp6.ListenNDP(ipv6.ICMPTypeNeighborAdvertisement)
	if err != nil {
		return nil, err
	}
	rc, err := c.SyscallConn()
	if err == nil {
		var fd int
		err = rc.Control(func(s uintptr) { fd = int(s) })
		if err == nil {
			return &icmpConn{c: c, pc: pc, rc: rc, fd: fd}, nil
		}
	}
	c.Close()
	return nil, fmt.Errorf("icmpv6 socket: %w", err)
}

// naBuffers are one reader's buffers for advertisements: the packet and
// its ancillary data (the hop limit and the incoming link).
type naBuffers struct {
	pkt [1500]byte
	oob [128]byte
	cm  ipv6.ControlMessage
}

// readNA waits for the next valid Neighbor Advertisement and returns its
// target and the link it came in on.
func (c *icmpConn) readNA(b *naBuffers) (netip.Addr, int, error) {
	for {
		var n, oobn int
		var err error
		rerr := c.rc.Read(func(fd uintptr) bool {
			n, oobn, _, _, err = unix.Recvmsg(int(fd), b.pkt[:], b.oob[:], unix.MSG_DONTWAIT)
			return err != unix.EAGAIN
		})
		if rerr != nil {
			return netip.Addr{}, 0, rerr
		}
		if err != nil {
			return netip.Addr{}, 0, os.NewSyscallError("recvmsg", err)
		}
		if target, link, ok := b.advert(n, oobn); ok {
			return target, link, nil
		}
	}
}

// pollNA returns the next valid Neighbor Advertisement already queued on
// the socket, without waiting: errNoAdvert when there is none. It reads
// the descriptor directly, beside readNA, which holds the runtime's read
// lock while it waits; the caller makes sure the socket is not closed
// meanwhile.
func (c *icmpConn) pollNA(b *naBuffers) (netip.Addr, int, error) {
	for {
		n, oobn, _, _, err := unix.Recvmsg(c.fd, b.pkt[:], b.oob[:], unix.MSG_DONTWAIT)
		switch {
		case err == unix.EAGAIN:
			return netip.Addr{}, 0, errNoAdvert
		case err != nil:
			return netip.Addr{}, 0, os.NewSyscallError("recvmsg", err)
		}
		if target, link, ok := b.advert(n, oobn); ok {
			return target, link, nil
		}
	}
}

var errNoAdvert = errors.New("no advertisement queued")

// advert checks a received datagram: hop limit 255 (RFC 4861 section 7.1.2)
// and a valid advertisement.
func (b *naBuffers) advert(n, oobn int) (netip.Addr, int, bool) {
	b.cm.HopLimit, b.cm.IfIndex = 0, 0
	if err := b.cm.Parse(b.oob[:oobn]); err != nil || b.cm.HopLimit != icmp6.HopLimit {
		return netip.Addr{}, 0, false
	}
	target, ok := parseNA(b.pkt[:n])
	return target, b.cm.IfIndex, ok
}

// sendNS solicits target on link, from the link's own address with a source
// link-layer option so the target can answer without resolving us first.
// The engine sends probes through its packet socket where it can
// (Engine.sendProbe); this is for links without link-layer addresses.
func (c *icmpConn) sendNS(target netip.Addr, link int, mac net.HardwareAddr) error {
	b := make([]byte, nsFixedLen, nsFixedLen+8)
	b[0] = icmp6.TypeNS
	copy(b[8:], target.AsSlice())
	if len(mac) == 6 {
		b = append(b, optSLLA, 1)
		b = append(b, mac...)
	}
	group := solicitedNode(target)
	// The kernel fills in the checksum of raw ICMPv6 sockets.
	_, err := c.pc.WriteTo(b, &ipv6.ControlMessage{IfIndex: link, HopLimit: icmp6.HopLimit},
		&net.IPAddr{IP: group.AsSlice()})
	return err
}

func (c *icmpConn) join(link int, group netip.Addr) error {
	return c.pc.JoinGroup(&net.Interface{Index: link}, &net.IPAddr{IP: group.AsSlice()})
}

func (c *icmpConn) leave(link int, group netip.Addr) error {
	return c.pc.LeaveGroup(&net.Interface{Index: link}, &net.IPAddr{IP: group.AsSlice()})
}

func (c *icmpConn) close() error { return c.c.Close() }

// mldFilter accepts IPv6 packets whose first header is an 8-byte hop-by-hop
// header (the Router Alert every MLD message carries) followed by an MLD
// report or done message.
var mldFilter = mustAssemble([]bpf.Instruction{
	bpf.LoadAbsolute{Off: 6, Size: 1},
	bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 0, SkipTrue: 9},
	bpf.LoadAbsolute{Off: icmp6.IPv6HeaderLen, Size: 2},
	bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: icmp6.Proto << 8, SkipTrue: 7},
	bpf.LoadAbsolute{Off: icmp6.IPv6HeaderLen + 8, Size: 1},
	bpf.JumpIf{Cond: bpf.JumpEqual, Val: mldV1Report, SkipTrue: 3},
	bpf.JumpIf{Cond: bpf.JumpEqual, Val: mldV1Done, SkipTrue: 2},
	bpf.JumpIf{Cond: bpf.JumpEqual, Val: mldV2Report, SkipTrue: 1},
	bpf.RetConstant{Val: 0},
	bpf.RetConstant{Val: 1 << 16},
	bpf.RetConstant{Val: 0},
	bpf.RetConstant{Val: 0},
})

// mldConn reads the MLD reports hosts send on the downstream links. Reports
// go to ff02::16 (MLDv2) or to the group itself (MLDv1), neither of which
// the host joins: an AF_PACKET socket with ALLMULTI on each link sees them.
type mldConn struct {
	packetConn
	links map[int]bool
}

func listenMLD(links []int) (*mldConn, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("packet socket: %w", err)
	}
	prog := unix.SockFprog{Len: uint16(len(mldFilter)), Filter: &mldFilter[0]}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &prog); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("attach filter: %w", err)
	}
	// Every link: one socket and one reader for all downstreams.
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_IPV6)}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bind packet socket: %w", err)
	}
	c := &mldConn{links: map[int]bool{}}
	for _, l := range links {
		mreq := unix.PacketMreq{Ifindex: int32(l), Type: unix.PACKET_MR_ALLMULTI}
		if err := unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mreq); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("allmulti on ifindex %d: %w", l, err)
		}
		c.links[l] = true
	}
	f := os.NewFile(uintptr(fd), "packet:mld")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	c.packetConn = packetConn{f: f, rc: rc}
	return c, nil
}

// readReport returns the next MLD packet received on one of the links.
func (c *mldConn) readReport(buf []byte) (int, error) {
	for {
		n, ll, err := c.recv(buf)
		if err != nil || c.links[ll.Ifindex] {
			return n, err
		}
	}
}

// sendGeneralQuery asks every listener on link to report its groups
// (RFC 3810 section 5.1.15): to ff02::1 from the link's link-local address,
// hop limit 1, with a Router Alert. Hosts answer within a second.
func sendGeneralQuery(link int) error {
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMPV6)
	if err != nil {
		return fmt.Errorf("icmpv6 socket: %w", err)
	}
	defer unix.Close(fd)
	// Hop-by-hop header: next header and length filled in by the kernel,
	// Router Alert (MLD), PadN of two bytes.
	hbh := []byte{0, 0, hbhRouterAlert, 2, 0, 0, 1, 0}
	for _, set := range []func() error{
		func() error { return unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_HOPS, 1) },
		func() error { return unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_IF, link) },
		func() error { return unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_LOOP, 0) },
		func() error { return unix.SetsockoptString(fd, unix.IPPROTO_IPV6, unix.IPV6_HOPOPTS, string(hbh)) },
	} {
		if err := set(); err != nil {
			return fmt.Errorf("icmpv6 socket options: %w", err)
		}
	}
	to := &unix.SockaddrInet6{Addr: allNodes.As16(), ZoneId: uint32(link)}
	return unix.Sendto(fd, mldGeneralQuery(time.Second), 0, to)
}
