package proxy

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/ndproxy/ndproxy/internal/plan"
	"github.com/ndproxy/ndproxy/internal/world"
	"github.com/ndproxy/ndproxy/test/netns"
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
