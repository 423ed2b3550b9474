package wg

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/ndproxy/ndproxy/internal/kernel"
	"github.com/ndproxy/ndproxy/internal/world"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// AddrProtocol marks the derived link-local addresses ndproxy adds, in the
// address's protocol (IFA_PROTO, Linux 5.18 and later), as
// kernel.RouteProtocol marks its routes and with the same number. A restart
// after a crash finds its leftovers by the mark, and an address anyone else
// added carries another protocol (0 from ip(8) and netifd, 3 for the
// kernel's own link-locals) and is never touched, even when it is the very
// address ndproxy derives (OpenWrt's `list addresses` may put it there).
// The kernel sets the protocol afresh whenever an address is replaced
// (netifd and `ip addr replace` replace), so an address the admin claims
// stops being ndproxy's. Older kernels ignore the attribute: nothing is
// marked, so nothing is ever removed.
const AddrProtocol = kernel.RouteProtocol

// ifaProto is IFA_PROTO (linux/if_addr.h), which golang.org/x/sys/unix does
// not name at v0.28.0; vishvananda/netlink v1.3.1 neither sends nor reads
// it.
const ifaProto = 11

// LinkAddr is an IPv6 address on a link with the protocol that put it there.
type LinkAddr struct {
	LinkIndex int
	Prefix    netip.Prefix
	Proto     uint8
}

// kernelAddrs lists, adds and removes addresses through rtnetlink, one
// socket per request: derived link-locals change when a device or the
// config does, not per packet.
type kernelAddrs struct{}

var _ addrKernel = kernelAddrs{}

// List returns the IPv6 addresses of every link.
func (kernelAddrs) List() ([]LinkAddr, error) {
	req := nl.NewNetlinkRequest(unix.RTM_GETADDR, unix.NLM_F_DUMP)
	req.AddData(nl.NewIfAddrmsg(unix.AF_INET6))
	msgs, err := req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWADDR)
	if err != nil {
		// An interrupted dump may miss a mark: the next reconcile
		// lists again.
		return nil, fmt.Errorf("list addresses: %w", err)
	}
	out := make([]LinkAddr, 0, len(msgs))
	for _, m := range msgs {
		if a, err := parseAddrMsg(m); err == nil {
			out = append(out, a)
		}
	}
	return out, nil
}

// Add puts a on its link, marked with AddrProtocol. It fails with EEXIST
// when the link has the address already, whatever its prefix length and
// whoever added it: the kernel keeps each address once per link.
func (kernelAddrs) Add(a world.Addr) error {
	req := nl.NewNetlinkRequest(unix.RTM_NEWADDR, unix.NLM_F_CREATE|unix.NLM_F_EXCL|unix.NLM_F_ACK)
	req.AddRawData(newAddrMsg(a))
	if _, err := req.Execute(unix.NETLINK_ROUTE, 0); err != nil {
		return fmt.Errorf("add %s to link %d: %w", a.Prefix, a.LinkIndex, err)
	}
	return nil
}

// Del removes a from its link; an address or link already gone is not an
// error.
func (kernelAddrs) Del(a world.Addr) error {
	req := nl.NewNetlinkRequest(unix.RTM_DELADDR, unix.NLM_F_ACK)
	req.AddRawData(delAddrMsg(a))
	_, err := req.Execute(unix.NETLINK_ROUTE, 0)
	if err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("remove %s from link %d: %w", a.Prefix, a.LinkIndex, err)
	}
	return nil
}

// newAddrMsg is the body of an RTM_NEWADDR request for a (struct ifaddrmsg
// and attributes): marked with AddrProtocol, and without DAD, since the
// address derives from a key unique on the device and WireGuard has no link
// to detect a duplicate on.
func newAddrMsg(a world.Addr) []byte {
	b := ifaddrmsg(a, unix.IFA_F_NODAD)
	ip := a.Prefix.Addr().As16()
	b = appendAttr(b, unix.IFA_LOCAL, ip[:])
	b = appendAttr(b, unix.IFA_ADDRESS, ip[:])
	b = appendAttr(b, unix.IFA_FLAGS, binary.NativeEndian.AppendUint32(nil, unix.IFA_F_NODAD))
	return appendAttr(b, ifaProto, []byte{AddrProtocol})
}

// delAddrMsg is the body of an RTM_DELADDR request for a. It names no
// protocol: the kernel would not compare it anyway.
func delAddrMsg(a world.Addr) []byte {
	ip := a.Prefix.Addr().As16()
	return appendAttr(ifaddrmsg(a, 0), unix.IFA_LOCAL, ip[:])
}

func ifaddrmsg(a world.Addr, flags uint8) []byte {
	b := []byte{unix.AF_INET6, uint8(a.Prefix.Bits()), flags, 0}
	return binary.NativeEndian.AppendUint32(b, uint32(a.LinkIndex))
}

// appendAttr appends one attribute, padded to four bytes.
func appendAttr(b []byte, typ uint16, v []byte) []byte {
	b = binary.NativeEndian.AppendUint16(b, uint16(unix.SizeofRtAttr+len(v)))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = append(b, v...)
	for len(b)%unix.RTA_ALIGNTO != 0 {
		b = append(b, 0)
	}
	return b
}

// parseAddrMsg reads the body of one RTM_NEWADDR message from the kernel
// (what newAddrMsg builds, and what a dump returns). An address with a peer
// names itself in IFA_LOCAL and the peer in IFA_ADDRESS; any other only in
// IFA_ADDRESS.
func parseAddrMsg(b []byte) (LinkAddr, error) {
	if len(b) < unix.SizeofIfAddrmsg {
		return LinkAddr{}, fmt.Errorf("address message of %d bytes, shorter than struct ifaddrmsg", len(b))
	}
	if b[0] != unix.AF_INET6 {
		return LinkAddr{}, fmt.Errorf("address family %d, not IPv6", b[0])
	}
	bits := int(b[1])
	a := LinkAddr{LinkIndex: int(binary.NativeEndian.Uint32(b[4:]))}
	var local, address netip.Addr
	for rest := b[unix.SizeofIfAddrmsg:]; len(rest) >= unix.SizeofRtAttr; {
		l := int(binary.NativeEndian.Uint16(rest))
		typ := binary.NativeEndian.Uint16(rest[2:])
		if l < unix.SizeofRtAttr || l > len(rest) {
			return LinkAddr{}, fmt.Errorf("address attribute %d of length %d in %d bytes", typ, l, len(rest))
		}
		v := rest[unix.SizeofRtAttr:l]
		switch {
		case typ == unix.IFA_LOCAL && len(v) == 16:
			local = netip.AddrFrom16([16]byte(v))
		case typ == unix.IFA_ADDRESS && len(v) == 16:
			address = netip.AddrFrom16([16]byte(v))
		case typ == ifaProto && len(v) == 1:
			a.Proto = v[0]
		}
		l = (l + unix.RTA_ALIGNTO - 1) &^ (unix.RTA_ALIGNTO - 1)
		if l >= len(rest) {
			break
		}
		rest = rest[l:]
	}
	ip := local
	if !ip.IsValid() {
		ip = address
	}
	if !ip.IsValid() {
		return LinkAddr{}, errors.New("address message without an IPv6 address")
	}
	if bits > 128 {
		return LinkAddr{}, fmt.Errorf("address %v with prefix length %d", ip, bits)
	}
	a.Prefix = netip.PrefixFrom(ip, bits)
	return a, nil
}
