package mdns

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// conn is one UDP socket of the reflector, of one family.
type conn interface {
	// read returns a datagram, the link it came in on and its hop limit
	// (IPv4: TTL).
	read(b []byte) (n, ifindex, hops int, src netip.AddrPort, err error)
	// write sends b out of link ifindex.
	write(b []byte, ifindex int, dst netip.AddrPort) error
	close() error
}

// listenGroup opens the socket that receives the family's mDNS multicast on
// link i, and sends everything but passed-on legacy queries out of it.
//
// It is bound to the group address, not the wildcard: it then gets only what
// is sent to the group, and unicast to port 5353 keeps going to an
// avahi-daemon on this host, which binds the wildcard (Linux gives a unicast
// datagram to one of the sockets sharing a port). SO_REUSEADDR and
// SO_REUSEPORT let the two share the port. ff02::fb is link-scoped, so the
// kernel wants the link with it (EINVAL without): one socket per link and
// family, for IPv4 too (SO_BINDTODEVICE), so that both work the same.
func listenGroup(v4 bool, i Iface) (conn, error) {
	family, group := unix.AF_INET6, Group6
	if v4 {
		family, group = unix.AF_INET, Group4
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return nil, fmt.Errorf("mdns socket: %w", err)
	}
	var sa unix.Sockaddr
	opts := [][3]int{{unix.SOL_SOCKET, unix.SO_REUSEADDR, 1}, {unix.SOL_SOCKET, unix.SO_REUSEPORT, 1}}
	if v4 {
		sa = &unix.SockaddrInet4{Port: Port, Addr: group.Addr().As4()}
		// Only the memberships of this socket, not every group any
		// socket joined.
		opts = append(opts, [3]int{unix.IPPROTO_IP, unix.IP_MULTICAST_ALL, 0})
	} else {
		sa = &unix.SockaddrInet6{Port: Port, Addr: group.Addr().As16(), ZoneId: uint32(i.Index)}
		opts = append(opts, [3]int{unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1})
	}
	for _, o := range opts {
		if err := unix.SetsockoptInt(fd, o[0], o[1], o[2]); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("mdns socket option %d: %w", o[1], err)
		}
	}
	if v4 {
		if err := unix.BindToDevice(fd, i.Name); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("mdns socket: bind to %s: %w", i.Name, err)
		}
	}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("mdns socket: bind %v on %s: %w", group, i.Name, err)
	}
	f := os.NewFile(uintptr(fd), "mdns")
	pc, err := net.FilePacketConn(f) // a dup, on Go's poller
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("mdns socket: %w", err)
	}
	c, err := wrap(pc, v4)
	if err != nil {
		return nil, err
	}
	ifi := &net.Interface{Index: i.Index, Name: i.Name}
	g := net.UDPAddrFromAddrPort(group)
	if v4 {
		err = c.(*conn4).p.JoinGroup(ifi, g)
	} else {
		err = c.(*conn6).p.JoinGroup(ifi, g)
	}
	if err != nil {
		c.close()
		return nil, fmt.Errorf("mdns socket: join %v on %s: %w", group.Addr(), i.Name, err)
	}
	return c, nil
}

// listenLegacy opens the socket that passes on legacy queries from a port of
// its own: responders answer those by unicast to it (RFC 6762 §6.7).
func listenLegacy(v4 bool) (conn, error) {
	network, addr := "udp6", "[::]:0"
	if v4 {
		network, addr = "udp4", "0.0.0.0:0"
	}
	pc, err := net.ListenPacket(network, addr)
	if err != nil {
		return nil, fmt.Errorf("mdns legacy socket: %w", err)
	}
	return wrap(pc, v4)
}

// wrap sets what every reflector socket needs: the incoming link of each
// datagram, hop limit 255 on everything sent (RFC 6762 §11), and no loopback
// of our own multicast.
func wrap(pc net.PacketConn, v4 bool) (conn, error) {
	var err error
	if v4 {
		p := ipv4.NewPacketConn(pc)
		err = errors.Join(
			p.SetControlMessage(ipv4.FlagInterface|ipv4.FlagTTL, true),
			p.SetMulticastTTL(255), p.SetTTL(255), p.SetMulticastLoopback(false))
		if err == nil {
			return &conn4{p}, nil
		}
	} else {
		p := ipv6.NewPacketConn(pc)
		err = errors.Join(
			p.SetControlMessage(ipv6.FlagInterface|ipv6.FlagHopLimit, true),
			p.SetMulticastHopLimit(255), p.SetHopLimit(255), p.SetMulticastLoopback(false))
		if err == nil {
			return &conn6{p}, nil
		}
	}
	pc.Close()
	return nil, fmt.Errorf("mdns socket options: %w", err)
}

type conn4 struct{ p *ipv4.PacketConn }

func (c *conn4) read(b []byte) (int, int, int, netip.AddrPort, error) {
	n, cm, src, err := c.p.ReadFrom(b)
	if err != nil || cm == nil {
		return 0, 0, 0, netip.AddrPort{}, err
	}
	return n, cm.IfIndex, cm.TTL, addrPort(src), nil
}

func (c *conn4) write(b []byte, ifindex int, dst netip.AddrPort) error {
	_, err := c.p.WriteTo(b, &ipv4.ControlMessage{IfIndex: ifindex}, net.UDPAddrFromAddrPort(dst))
	return err
}

func (c *conn4) close() error { return c.p.Close() }

type conn6 struct{ p *ipv6.PacketConn }

func (c *conn6) read(b []byte) (int, int, int, netip.AddrPort, error) {
	n, cm, src, err := c.p.ReadFrom(b)
	if err != nil || cm == nil {
		return 0, 0, 0, netip.AddrPort{}, err
	}
	return n, cm.IfIndex, cm.HopLimit, addrPort(src), nil
}

func (c *conn6) write(b []byte, ifindex int, dst netip.AddrPort) error {
	_, err := c.p.WriteTo(b, &ipv6.ControlMessage{IfIndex: ifindex}, net.UDPAddrFromAddrPort(dst))
	return err
}

func (c *conn6) close() error { return c.p.Close() }

func addrPort(a net.Addr) netip.AddrPort {
	if u, ok := a.(*net.UDPAddr); ok {
		ap := u.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return netip.AddrPort{}
}

// LookupIface reads what the reflector needs of the link called name; an
// error says why it cannot be used yet (missing, down, no multicast).
func LookupIface(name string) (Iface, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return Iface{}, fmt.Errorf("%s does not exist", name)
	}
	switch {
	case ifi.Flags&net.FlagUp == 0:
		return Iface{}, fmt.Errorf("%s is down", name)
	case ifi.Flags&net.FlagMulticast == 0 && ifi.Flags&net.FlagPointToPoint == 0:
		return Iface{}, fmt.Errorf("%s has multicast off", name)
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		return Iface{}, fmt.Errorf("%s: %w", name, err)
	}
	i := Iface{Index: ifi.Index, Name: name, MTU: ifi.MTU}
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(n.IP)
		if !ok {
			continue
		}
		bits, _ := n.Mask.Size()
		i.Prefixes = append(i.Prefixes, netip.PrefixFrom(ip.Unmap(), bits))
	}
	if len(i.Prefixes) == 0 {
		return Iface{}, fmt.Errorf("%s has no address", name)
	}
	return i, nil
}
