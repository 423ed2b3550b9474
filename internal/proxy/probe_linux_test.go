package proxy

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/ndproxy/ndproxy/internal/icmp6"
	"github.com/ndproxy/ndproxy/internal/plan"
	"github.com/ndproxy/ndproxy/internal/world"
	"github.com/ndproxy/ndproxy/test/netns"
	"golang.org/x/sys/unix"
)

// TestProbeSources asks a real kernel where probes are sent from: a
// downstream link's usable link-local address, as the kernel would choose
// it; a link without one is left to the ICMPv6 socket.
func TestProbeSources(t *testing.T) {
	lab := netns.New(t)
	gw, pi, pj := lab.Router("gw"), lab.Host("pi"), lab.Host("pj")
	lab.Link(gw, "eth0", pi, "eth0")
	lab.Link(gw, "eth1", pj, "eth0")
	// eth1 keeps no IPv6 address at all.
	gw.MustIP("link", "set", "dev", "eth1", "addrgenmode", "none")
	gw.MustIP("-6", "addr", "flush", "dev", "eth1")
	var ll netip.Addr
	if err := netns.Poll(5*time.Second, func() error {
		addrs, err := gw.Addrs("eth0")
		if err != nil {
			return err
		}
		for _, a := range addrs {
			if a.Prefix.Addr().IsLinkLocalUnicast() && !a.Tentative {
				ll = a.Prefix.Addr()
				return nil
			}
		}
		return fmt.Errorf("gw's eth0 has no usable link-local address yet: %v", addrs)
	}); err != nil {
		t.Fatal(err)
	}

	var got, want map[int]netip.Addr
	if err := netns.InNamespace(gw.NS, func() error {
		eth0, err0 := net.InterfaceByName("eth0")
		eth1, err1 := net.InterfaceByName("eth1")
		if err := errors.Join(err0, err1); err != nil {
			return err
		}
		got = probeSources(plan.Engine{Downstreams: []world.Link{
			{Index: eth0.Index, Name: "eth0", HardwareAddr: eth0.HardwareAddr},
			{Index: eth1.Index, Name: "eth1", HardwareAddr: eth1.HardwareAddr},
		}})
		want = map[int]netip.Addr{eth0.Index: ll}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(got, want) {
		t.Errorf("probeSources = %v, want %v (eth0's link-local, nothing for eth1 without one)", got, want)
	}
}

// TestPollNA reads a real kernel's answers to a probe without waiting: nothing
// queued is errNoAdvert, an advertisement that was forwarded (hop limit below
// 255) is passed over, and the host's answer comes back with the link it came
// in on.
func TestPollNA(t *testing.T) {
	lab := netns.New(t)
	gw, pi := lab.Router("gw"), lab.Host("pi")
	lab.Link(gw, "eth0", pi, "eth0")
	target, other := netip.MustParseAddr("2001:db8:be:1::41"), netip.MustParseAddr("2001:db8:be:1::42")
	pi.AddAddr("eth0", netip.PrefixFrom(target, 64), "nodad")
	gwLL, piMAC := gw.LinkLocal("eth0"), pi.MAC("eth0")

	// pi sends an advertisement for other with hop limit 64 first: the
	// kernel delivers it to gw's ICMPv6 sockets, and pollNA must skip it.
	forwarded := func() error {
		fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMPV6)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS, 64); err != nil {
			return err
		}
		eth0, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		pkt := appendNA(nil, advert{Src: target, Dst: gwLL, Target: other, Solicited: true, TLLA: piMAC})
		return unix.Sendto(fd, pkt[icmp6.IPv6HeaderLen:], 0, &unix.SockaddrInet6{Addr: gwLL.As16(), ZoneId: uint32(eth0.Index)})
	}

	err := netns.InNamespace(gw.NS, func() error {
		eth0, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		pc, err := listenPacket(eth0.Index)
		if err != nil {
			return err
		}
		defer pc.close()
		ic, err := listenICMP()
		if err != nil {
			return err
		}
		defer ic.close()
		var b naBuffers
		if _, _, err := ic.pollNA(&b); err != errNoAdvert {
			return fmt.Errorf("pollNA on an empty socket = %v, want errNoAdvert", err)
		}
		if err := netns.InNamespace(pi.NS, forwarded); err != nil {
			return fmt.Errorf("send the forwarded advertisement: %w", err)
		}
		probe := appendNS(nil, gwLL, target, eth0.HardwareAddr)
		if err := pc.writeOn(eth0.Index, probe, multicastMAC(solicitedNode(target))); err != nil {
			return err
		}
		// On a veth the answer is usually queued before the send returns;
		// a busy machine may defer it to ksoftirqd, so wait a little.
		deadline := time.Now().Add(2 * time.Second)
		for {
			got, link, err := ic.pollNA(&b)
			switch {
			case err == errNoAdvert && time.Now().Before(deadline):
				time.Sleep(time.Millisecond)
				continue
			case err != nil:
				return fmt.Errorf("pollNA after the probe: %w", err)
			case got != target || link != eth0.Index:
				return fmt.Errorf("pollNA = %s on link %d, want %s on %d (the forwarded one for %s must be skipped)", got, link, target, eth0.Index, other)
			}
			return nil
		}
	})
	if err != nil {
		t.Fatal(err)
	}
}
