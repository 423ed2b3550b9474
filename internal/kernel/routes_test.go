package kernel

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"testing"

	"github.com/ndproxy/ndproxy/internal/world"
	"github.com/ndproxy/ndproxy/test/netns"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// inNetns runs f in the namespace ns; sockets f opens stay there.
func inNetns(t *testing.T, ns string, f func()) {
	t.Helper()
	if err := netns.InNamespace(ns, func() error { f(); return nil }); err != nil {
		t.Fatalf("setns %s: %v", ns, err)
	}
}

// TestAddNowRoutesBeforeReturning checks what the answer path relies on: the
// route is in the kernel's table when AddNow returns, without waiting for
// the acknowledgement, and a route the kernel refuses is reported by
// Failures, which reads the acknowledgements afterwards.
func TestAddNowRoutesBeforeReturning(t *testing.T) {
	lab := netns.New(t)
	gw, dn := lab.Router("gw"), lab.Host("dn")
	lab.Link(gw, "eth0", dn, "eth0")
	target := netip.MustParseAddr("2001:db8:be:1:40::7")
	var errs []string
	fail := func(f string, args ...any) { errs = append(errs, fmt.Sprintf(f, args...)) }

	inNetns(t, gw.NS, func() {
		link, err := net.InterfaceByName("eth0")
		if err != nil {
			fail("eth0: %v", err)
			return
		}
		r := new(Routes)
		defer r.Close()
		want := world.Route{Dst: netip.PrefixFrom(target, 128), LinkIndex: link.Index, Metric: 64}
		if err := r.AddNow(want); err != nil {
			fail("AddNow: %v", err)
			return
		}
		// No wait of any kind: the kernel must route the target already.
		got, err := netlink.RouteGet(target.AsSlice())
		if err != nil || len(got) == 0 || got[0].LinkIndex != link.Index {
			fail("right after AddNow, route to %v = %+v, %v; want dev eth0 (%d)", target, got, err, link.Index)
		}
		if f := r.Failures(); len(f) != 0 {
			fail("Failures after a good route = %v, want none", f)
		}
		owned, err := r.List()
		if err != nil || !slices.Contains(owned, want) {
			fail("List = %v, %v; want it to hold %+v (protocol %d)", owned, err, want, RouteProtocol)
		}
		// Adding it again replaces it: no error, no duplicate.
		if err := r.AddNow(want); err != nil {
			fail("AddNow again: %v", err)
		}
		if f := r.Failures(); len(f) != 0 {
			fail("Failures after re-adding = %v, want none", f)
		}

		bad := world.Route{Dst: netip.MustParsePrefix("2001:db8:be:1:40::8/128"), LinkIndex: 99999, Metric: 64}
		if err := r.AddNow(bad); err != nil {
			fail("AddNow on a missing device returned %v; the refusal should come from Failures", err)
		}
		f := r.Failures()
		if len(f) != 1 || !errors.Is(f[0], unix.ENODEV) {
			fail("Failures after a route on a missing device = %v, want one ENODEV", f)
		}
		if f := r.Failures(); len(f) != 0 {
			fail("Failures read twice = %v, want none the second time", f)
		}
	})
	for _, e := range errs {
		t.Error(e)
	}
}

// TestRouteMsgMatchesKernelLayout checks the hand-built request field by
// field; TestAddNowRoutesBeforeReturning checks that the kernel takes it.
func TestRouteMsgMatchesKernelLayout(t *testing.T) {
	r := world.Route{Dst: netip.MustParsePrefix("2001:db8::5/128"), LinkIndex: 7, Metric: 64}
	b := newRouteMsg(nil, r, 42)
	ne := binary.NativeEndian
	if int(ne.Uint32(b)) != len(b) || ne.Uint16(b[4:]) != unix.RTM_NEWROUTE || ne.Uint32(b[8:]) != 42 {
		t.Fatalf("header % x", b[:16])
	}
	rtm := b[unix.NLMSG_HDRLEN:]
	if rtm[0] != unix.AF_INET6 || rtm[1] != 128 || rtm[4] != unix.RT_TABLE_MAIN || rtm[5] != RouteProtocol || rtm[7] != unix.RTN_UNICAST {
		t.Fatalf("rtmsg % x", rtm[:12])
	}
	attrs := map[uint16][]byte{}
	for a := rtm[unix.SizeofRtMsg:]; len(a) >= 4; {
		l := int(ne.Uint16(a))
		if l < 4 || l > len(a) {
			t.Fatalf("bad attribute length %d in % x", l, a)
		}
		attrs[ne.Uint16(a[2:])] = a[4:l]
		a = a[(l+3)&^3:]
	}
	dst := r.Dst.Addr().As16()
	if string(attrs[unix.RTA_DST]) != string(dst[:]) || ne.Uint32(attrs[unix.RTA_OIF]) != 7 || ne.Uint32(attrs[unix.RTA_PRIORITY]) != 64 {
		t.Fatalf("attributes %v", attrs)
	}
}

// FuzzParseAcks: whatever the socket returns, parsing never panics, and
// acknowledgements built here come back as they went in.
func FuzzParseAcks(f *testing.F) {
	f.Add(appendAck(nil, 1, 0))
	f.Add(appendAck(appendAck(nil, 7, -int32(unix.ENODEV)), 8, 0))
	f.Add([]byte{16, 0, 0, 0, 2, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		got := parseAcks(b)
		// Rebuild what was understood and parse it again: the same.
		var again []byte
		for _, a := range got {
			again = appendAck(again, a.seq, -int32(a.errno))
		}
		if back := parseAcks(again); !slices.Equal(back, got) {
			t.Fatalf("parse(build(%v)) = %v", got, back)
		}
	})
}

// appendAck appends an NLMSG_ERROR message with code (0 for success), as
// the kernel sends with NETLINK_CAP_ACK: the header and the code only,
// followed by the original request's header.
func appendAck(b []byte, seq uint32, code int32) []byte {
	ne := binary.NativeEndian
	b = ne.AppendUint32(b, unix.NLMSG_HDRLEN+4+unix.NLMSG_HDRLEN)
	b = ne.AppendUint16(b, unix.NLMSG_ERROR)
	b = ne.AppendUint16(b, 0)
	b = ne.AppendUint32(b, seq)
	b = ne.AppendUint32(b, 0)
	b = ne.AppendUint32(b, uint32(code))
	return append(b, make([]byte, unix.NLMSG_HDRLEN)...)
}
