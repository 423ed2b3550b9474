package wg

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ndproxy/ndproxy/internal/world"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// msg builds an RTM_NEWADDR body as the kernel sends it.
func msg(bits uint8, index uint32, attrs ...[]byte) []byte {
	b := []byte{unix.AF_INET6, bits, 0, unix.RT_SCOPE_LINK}
	b = binary.NativeEndian.AppendUint32(b, index)
	for _, a := range attrs {
		b = append(b, a...)
	}
	return b
}

func attr(typ uint16, v []byte) []byte { return appendAttr(nil, typ, v) }

func ip16(s string) []byte {
	a := netip.MustParseAddr(s).As16()
	return a[:]
}

func TestParseAddrMsg(t *testing.T) {
	cacheinfo := attr(unix.IFA_CACHEINFO, make([]byte, 16))
	for _, tt := range []struct {
		name string
		b    []byte
		want LinkAddr
		err  bool
	}{
		{
			name: "ndproxy's",
			b:    msg(64, 5, attr(unix.IFA_ADDRESS, ip16("fe80::b593:db41:30d1:a4e")), attr(unix.IFA_FLAGS, []byte{2, 0, 0, 0}), cacheinfo, attr(ifaProto, []byte{78})),
			want: LinkAddr{LinkIndex: 5, Prefix: netip.MustParsePrefix("fe80::b593:db41:30d1:a4e/64"), Proto: 78},
		},
		{
			name: "the admin's: no protocol attribute",
			b:    msg(64, 5, attr(unix.IFA_ADDRESS, ip16("fe80::b593:db41:30d1:a4e")), cacheinfo),
			want: LinkAddr{LinkIndex: 5, Prefix: netip.MustParsePrefix("fe80::b593:db41:30d1:a4e/64")},
		},
		{
			name: "with a peer: IFA_LOCAL is the address",
			b:    msg(128, 9, attr(unix.IFA_ADDRESS, ip16("2001:db8::2")), attr(unix.IFA_LOCAL, ip16("2001:db8::1"))),
			want: LinkAddr{LinkIndex: 9, Prefix: netip.MustParsePrefix("2001:db8::1/128")},
		},
		{
			name: "unknown attributes are skipped",
			b:    msg(64, 1, attr(200, []byte{1, 2, 3}), attr(unix.IFA_ADDRESS, ip16("fd00::1")), attr(ifaProto, []byte{3})),
			want: LinkAddr{LinkIndex: 1, Prefix: netip.MustParsePrefix("fd00::1/64"), Proto: 3},
		},
		{name: "short", b: []byte{unix.AF_INET6, 64, 0}, err: true},
		{name: "IPv4", b: append([]byte{unix.AF_INET, 24, 0, 0, 1, 0, 0, 0}, attr(unix.IFA_ADDRESS, []byte{10, 0, 0, 1})...), err: true},
		{name: "no address", b: msg(64, 1, cacheinfo), err: true},
		{name: "prefix length past 128", b: msg(129, 1, attr(unix.IFA_ADDRESS, ip16("fd00::1"))), err: true},
		{name: "attribute longer than the message", b: msg(64, 1, []byte{40, 0, 1, 0, 0xfe, 0x80}), err: true},
	} {
		got, err := parseAddrMsg(tt.b)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("%s: parseAddrMsg = %+v, %v; want %+v, error %v", tt.name, got, err, tt.want, tt.err)
		}
	}
}

// FuzzParseAddrMsg: whatever the kernel sends, parsing never panics, and
// what it understood survives a round trip through newAddrMsg.
func FuzzParseAddrMsg(f *testing.F) {
	f.Add(newAddrMsg(world.Addr{LinkIndex: 3, Prefix: netip.MustParsePrefix("fe80::1/64")}))
	f.Add(msg(128, 9, attr(unix.IFA_ADDRESS, ip16("2001:db8::2")), attr(unix.IFA_LOCAL, ip16("2001:db8::1"))))
	f.Add(msg(64, 1, []byte{4, 0, 11, 0}))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := parseAddrMsg(b)
		if err != nil {
			return
		}
		again, err := parseAddrMsg(newAddrMsg(world.Addr{LinkIndex: a.LinkIndex, Prefix: a.Prefix}))
		want := LinkAddr{LinkIndex: a.LinkIndex, Prefix: a.Prefix, Proto: AddrProtocol}
		if err != nil || again != want {
			t.Fatalf("parse(build(%+v)) = %+v, %v", want, again, err)
		}
	})
}

// TestKernelAddrs checks the requests against this machine's kernel, in a
// network namespace of its own: an address added carries ndproxy's mark,
// adding it again is EEXIST, an admin's replace takes the mark away (what
// makes a claimed address the admin's), and removing twice is fine.
func TestKernelAddrs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a network namespace")
	}
	var uts unix.Utsname
	if unix.Uname(&uts) == nil && !atLeast(unix.ByteSliceToString(uts.Release[:]), 5, 18) {
		t.Skipf("Linux %s keeps no address protocol (5.18 and later do)", unix.ByteSliceToString(uts.Release[:]))
	}
	errc := make(chan error, 1)
	go func() {
		// The thread ends with this goroutine, in its namespace: never
		// unlocked.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- err
			return
		}
		errc <- checkKernelAddrs(t)
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// checkKernelAddrs runs in the test's namespace; it reports what stops it
// as its error (t.Fatal belongs to the test's goroutine).
func checkKernelAddrs(t *testing.T) error {
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "wgtest0"}, PeerName: "wgtest1"}
	if err := netlink.LinkAdd(veth); err != nil {
		return err
	}
	link, err := netlink.LinkByName("wgtest0")
	if err != nil {
		return err
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return err
	}
	a := world.Addr{LinkIndex: link.Attrs().Index, Prefix: netip.MustParsePrefix("fe80::b593:db41:30d1:a4e/64")}
	k := kernelAddrs{}
	find := func() (LinkAddr, bool) {
		have, err := k.List()
		if err != nil {
			t.Errorf("List: %v", err)
		}
		i := slices.IndexFunc(have, func(h LinkAddr) bool { return h.LinkIndex == a.LinkIndex && h.Prefix == a.Prefix })
		if i < 0 {
			return LinkAddr{}, false
		}
		return have[i], true
	}

	if err := k.Add(a); err != nil {
		return fmt.Errorf("Add: %w", err)
	}
	if got, ok := find(); !ok || got.Proto != AddrProtocol {
		t.Errorf("after Add: %+v (listed %v), want protocol %d", got, ok, AddrProtocol)
	}
	if err := k.Add(a); !errors.Is(err, unix.EEXIST) {
		t.Errorf("Add again: %v, want EEXIST", err)
	}
	// As `ip addr replace` and netifd do: no protocol named.
	replace := &netlink.Addr{IPNet: &net.IPNet{IP: a.Prefix.Addr().AsSlice(), Mask: net.CIDRMask(a.Prefix.Bits(), 128)}, Flags: unix.IFA_F_NODAD}
	if err := netlink.AddrReplace(link, replace); err != nil {
		return fmt.Errorf("replace: %w", err)
	}
	if got, ok := find(); !ok || got.Proto != 0 {
		t.Errorf("after the admin's replace: %+v (listed %v), want protocol 0", got, ok)
	}
	// The kernel's own link-local of the veth is not ndproxy's.
	have, _ := k.List()
	for _, h := range have {
		if h.Proto == AddrProtocol {
			t.Errorf("%+v carries ndproxy's mark", h)
		}
	}
	if err := k.Del(a); err != nil {
		t.Errorf("Del: %v", err)
	}
	if got, ok := find(); ok {
		t.Errorf("after Del: %+v still listed", got)
	}
	if err := k.Del(a); err != nil {
		t.Errorf("Del of an address already gone: %v", err)
	}
	return nil
}

// atLeast reports whether the kernel release rel ("6.6.30-fc") is at least
// major.minor.
func atLeast(rel string, major, minor int) bool {
	f := strings.FieldsFunc(rel, func(r rune) bool { return r < '0' || r > '9' })
	if len(f) < 2 {
		return true // unknown: let the test judge
	}
	ma, _ := strconv.Atoi(f[0])
	mi, _ := strconv.Atoi(f[1])
	return ma > major || ma == major && mi >= minor
}
