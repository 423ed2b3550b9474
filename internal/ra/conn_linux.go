package ra

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/ndproxy/ndproxy/internal/icmp6"
	"golang.org/x/net/ipv6"
)

var allNodes, allRouters = netip.MustParseAddr("ff02::1"), netip.MustParseAddr("ff02::2")

// conn is a raw ICMPv6 socket that receives Router Advertisements and
// Router Solicitations on every link and sends them on any. RAs go to
// all-nodes, which every host has joined; RSs go to all-routers, joined per
// downstream link.
type conn struct {
	c  net.PacketConn
	pc *ipv6.PacketConn
	// joined are the links where all-routers is joined.
	joined map[int]bool
}

func listen() (*conn, error) {
	// The socket's own RAs do not loop back: an RA on a downstream link is
	// the loop guard's signal.
	c, pc, err := icmp6.ListenNDP(ipv6.ICMPTypeRouterAdvertisement, ipv6.ICMPTypeRouterSolicitation)
	if err != nil {
		return nil, err
	}
	return &conn{c: c, pc: pc, joined: map[int]bool{}}, nil
}

// joinRouters joins all-routers on exactly the links given.
func (c *conn) joinRouters(links []int) error {
	want := map[int]bool{}
	var err error
	for _, l := range links {
		want[l] = true
		if !c.joined[l] {
			if e := c.pc.JoinGroup(&net.Interface{Index: l}, &net.IPAddr{IP: allRouters.AsSlice()}); e != nil {
				err = fmt.Errorf("join ff02::2 on ifindex %d: %w", l, e)
				continue
			}
			c.joined[l] = true
		}
	}
	for l := range c.joined {
		if !want[l] {
			_ = c.pc.LeaveGroup(&net.Interface{Index: l}, &net.IPAddr{IP: allRouters.AsSlice()})
			delete(c.joined, l)
		}
	}
	return err
}

// read returns the next message, its source, link and hop limit.
func (c *conn) read(buf []byte) (int, netip.Addr, int, int, error) {
	for {
		n, cm, from, err := c.pc.ReadFrom(buf)
		if err != nil {
			return 0, netip.Addr{}, 0, 0, err
		}
		ip, ok := from.(*net.IPAddr)
		if cm == nil || !ok {
			continue
		}
		src, _ := netip.AddrFromSlice(ip.IP)
		return n, src.Unmap(), cm.IfIndex, cm.HopLimit, nil
	}
}

// send transmits b from src on link ifindex to dst, hop limit 255.
func (c *conn) send(b []byte, ifindex int, src, dst netip.Addr) error {
	cm := &ipv6.ControlMessage{IfIndex: ifindex, HopLimit: icmp6.HopLimit}
	if src.IsValid() {
		cm.Src = src.AsSlice()
	}
	_, err := c.pc.WriteTo(b, cm, &net.IPAddr{IP: dst.AsSlice(), Zone: fmt.Sprint(ifindex)})
	return err
}

func (c *conn) close() error { return c.c.Close() }
