package wg

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/ndproxy/ndproxy/internal/world"
	"golang.org/x/sys/unix"
)

// fakeAddrs keeps addresses as the kernel does: each address once per
// link, with the protocol of whoever added or last replaced it.
type fakeAddrs struct {
	addrs []LinkAddr
	// noProto drops the protocol of added addresses, as kernels before
	// 5.18 do.
	noProto bool
	// delErr, when set, fails every Del.
	delErr error
	lists  int
}

func (f *fakeAddrs) List() ([]LinkAddr, error) {
	f.lists++
	return slices.Clone(f.addrs), nil
}

func (f *fakeAddrs) Add(a world.Addr) error {
	if f.index(a) >= 0 {
		return fmt.Errorf("add %s: %w", a.Prefix, unix.EEXIST)
	}
	proto := uint8(AddrProtocol)
	if f.noProto {
		proto = 0
	}
	f.addrs = append(f.addrs, LinkAddr{LinkIndex: a.LinkIndex, Prefix: a.Prefix, Proto: proto})
	return nil
}

func (f *fakeAddrs) Del(a world.Addr) error {
	if f.delErr != nil {
		return f.delErr
	}
	if i := f.index(a); i >= 0 && f.addrs[i].Prefix == a.Prefix {
		f.addrs = slices.Delete(f.addrs, i, i+1)
	}
	return nil
}

func (f *fakeAddrs) index(a world.Addr) int {
	return slices.IndexFunc(f.addrs, func(h LinkAddr) bool { return h.LinkIndex == a.LinkIndex && h.Prefix.Addr() == a.Prefix.Addr() })
}

// replace is the admin's `ip addr replace` (or netifd's): the address is
// there afterwards, and carries no protocol.
func (f *fakeAddrs) replace(a world.Addr) {
	if i := f.index(a); i >= 0 {
		f.addrs[i].Proto = 0
		return
	}
	f.addrs = append(f.addrs, LinkAddr{LinkIndex: a.LinkIndex, Prefix: a.Prefix})
}

// world is what a reconcile's snapshot would show of f.
func (f *fakeAddrs) world() *world.World {
	w := &world.World{Links: []world.Link{{Index: 5, Name: "wg0"}, {Index: 6, Name: "wg1"}, {Index: 7, Name: "eth0"}}}
	for _, a := range f.addrs {
		w.Addrs = append(w.Addrs, world.Addr{LinkIndex: a.LinkIndex, Prefix: a.Prefix})
	}
	return w
}

func (f *fakeAddrs) has() []LinkAddr {
	out := slices.Clone(f.addrs)
	slices.SortFunc(out, func(a, b LinkAddr) int { return a.LinkIndex - b.LinkIndex })
	return out
}

var cmpPrefix = cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })

func newTestLinkLocals(f *fakeAddrs) (*LinkLocals, *bytes.Buffer) {
	var log bytes.Buffer
	return &LinkLocals{log: slog.New(slog.NewTextHandler(&log, nil)), k: f}, &log
}

var (
	ll0     = world.Addr{LinkIndex: 5, Prefix: netip.MustParsePrefix("fe80::b593:db41:30d1:a4e/64")}
	ll1     = world.Addr{LinkIndex: 6, Prefix: netip.MustParsePrefix("fe80::7521:d4a6:145a:1738/64")}
	eth0LL  = LinkAddr{LinkIndex: 7, Prefix: netip.MustParsePrefix("fe80::1/64"), Proto: 3} // IFAPROT_KERNEL_LL
	eth0ULA = LinkAddr{LinkIndex: 7, Prefix: netip.MustParsePrefix("fd00::1/64")}
)

func ours(a world.Addr) LinkAddr {
	return LinkAddr{LinkIndex: a.LinkIndex, Prefix: a.Prefix, Proto: AddrProtocol}
}
func admins(a world.Addr) LinkAddr { return LinkAddr{LinkIndex: a.LinkIndex, Prefix: a.Prefix} }

// A predecessor killed before it could clean up left its address on wg0;
// the admin put the very same kind of address on wg1 by hand. With
// link_local off everywhere, only the marked one goes.
func TestLinkLocalsRemoveLeftoversOnly(t *testing.T) {
	f := &fakeAddrs{addrs: []LinkAddr{ours(ll0), admins(ll1), eth0LL, eth0ULA}}
	l, _ := newTestLinkLocals(f)
	if errs := l.Apply(f.world(), nil); len(errs) > 0 {
		t.Fatal(errs)
	}
	want := []LinkAddr{admins(ll1), eth0LL, eth0ULA}
	if diff := cmp.Diff(want, f.has(), cmpPrefix); diff != "" {
		t.Errorf("addresses after the first reconcile (-want +got):\n%s", diff)
	}
	if err := l.Shutdown(f.world()); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, f.has(), cmpPrefix); diff != "" {
		t.Errorf("addresses after shutdown (-want +got):\n%s", diff)
	}
}

// A leftover that is wanted again is kept, not added a second time, and
// removed on a clean exit like one added by this run.
func TestLinkLocalsAdoptLeftover(t *testing.T) {
	f := &fakeAddrs{addrs: []LinkAddr{ours(ll0)}}
	l, _ := newTestLinkLocals(f)
	if errs := l.Apply(f.world(), []world.Addr{ll0}); len(errs) > 0 {
		t.Fatal(errs)
	}
	if diff := cmp.Diff([]LinkAddr{ours(ll0)}, f.has(), cmpPrefix); diff != "" {
		t.Errorf("addresses (-want +got):\n%s", diff)
	}
	if err := l.Shutdown(f.world()); err != nil {
		t.Fatal(err)
	}
	if len(f.addrs) != 0 {
		t.Errorf("after shutdown: %v, want none", f.addrs)
	}
}

// The admin's identical address is left as it is: not marked, not removed
// when no longer wanted, not removed on exit.
func TestLinkLocalsLeaveAdminsAddress(t *testing.T) {
	f := &fakeAddrs{addrs: []LinkAddr{admins(ll0)}}
	l, _ := newTestLinkLocals(f)
	for _, want := range [][]world.Addr{{ll0}, nil} {
		if errs := l.Apply(f.world(), want); len(errs) > 0 {
			t.Fatal(errs)
		}
	}
	if err := l.Shutdown(f.world()); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]LinkAddr{admins(ll0)}, f.has(), cmpPrefix); diff != "" {
		t.Errorf("addresses (-want +got):\n%s", diff)
	}
}

// An address ndproxy added that the admin then replaced (netifd replaces)
// is the admin's from then on.
func TestLinkLocalsAdminClaimsAddress(t *testing.T) {
	f := &fakeAddrs{}
	l, _ := newTestLinkLocals(f)
	if errs := l.Apply(f.world(), []world.Addr{ll0, ll1}); len(errs) > 0 {
		t.Fatal(errs)
	}
	if diff := cmp.Diff([]LinkAddr{ours(ll0), ours(ll1)}, f.has(), cmpPrefix); diff != "" {
		t.Fatalf("addresses added (-want +got):\n%s", diff)
	}
	f.replace(ll0)
	if errs := l.Apply(f.world(), []world.Addr{ll1}); len(errs) > 0 {
		t.Fatal(errs)
	}
	if err := l.Shutdown(f.world()); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]LinkAddr{admins(ll0)}, f.has(), cmpPrefix); diff != "" {
		t.Errorf("addresses after shutdown (-want +got):\n%s", diff)
	}
}

// Once the kernel is known to agree, a reconcile that changes nothing asks
// it nothing: the marks are listed only on the first reconcile, after an
// add and before a removal.
func TestLinkLocalsSteadyStateListsNothing(t *testing.T) {
	f := &fakeAddrs{}
	l, _ := newTestLinkLocals(f)
	steps := []struct {
		want  []world.Addr
		lists int
	}{
		{nil, 1},               // first: leftovers?
		{nil, 0},               // nothing to do
		{[]world.Addr{ll0}, 1}, // added: marked?
		{[]world.Addr{ll0}, 0},
		{[]world.Addr{ll0}, 0},
		{nil, 1}, // unwanted: still ours?
		{nil, 0},
	}
	for i, s := range steps {
		before := f.lists
		if errs := l.Apply(f.world(), s.want); len(errs) > 0 {
			t.Fatalf("step %d: %v", i, errs)
		}
		if got := f.lists - before; got != s.lists {
			t.Errorf("step %d (want %v): %d listings, want %d", i, s.want, got, s.lists)
		}
	}
	if len(f.addrs) != 0 {
		t.Errorf("left: %v", f.addrs)
	}
}

// A kernel that keeps no address protocol (before 5.18) marks nothing:
// ndproxy says so once, and removes what this run added when it is no
// longer wanted or ndproxy stops; a predecessor's leftover, unmarked, stays.
func TestLinkLocalsKernelWithoutMarks(t *testing.T) {
	f := &fakeAddrs{noProto: true, addrs: []LinkAddr{admins(ll1)}} // a killed run's, or the admin's
	l, log := newTestLinkLocals(f)
	for _, want := range [][]world.Addr{{ll0}, {ll0, ll1}, {ll1}} {
		if errs := l.Apply(f.world(), want); len(errs) > 0 {
			t.Fatal(errs)
		}
	}
	if diff := cmp.Diff([]LinkAddr{admins(ll1)}, f.has(), cmpPrefix); diff != "" {
		t.Errorf("addresses after ll0 is no longer wanted (-want +got):\n%s", diff)
	}
	if errs := l.Apply(f.world(), []world.Addr{ll0, ll1}); len(errs) > 0 {
		t.Fatal(errs)
	}
	if err := l.Shutdown(f.world()); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]LinkAddr{admins(ll1)}, f.has(), cmpPrefix); diff != "" {
		t.Errorf("addresses after shutdown (-want +got):\n%s", diff)
	}
	if n := strings.Count(log.String(), "not marked as ndproxy's"); n != 1 {
		t.Errorf("warned %d times about the missing mark, want once; log:\n%s", n, log)
	}
}

// An address that appeared between the snapshot and the add is someone
// else's: no error, and it is not ndproxy's to remove.
func TestLinkLocalsAddRace(t *testing.T) {
	f := &fakeAddrs{}
	l, log := newTestLinkLocals(f)
	w := f.world() // taken before the admin's add
	f.replace(ll0)
	if errs := l.Apply(w, []world.Addr{ll0}); len(errs) > 0 {
		t.Fatal(errs)
	}
	if err := l.Shutdown(f.world()); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]LinkAddr{admins(ll0)}, f.has(), cmpPrefix); diff != "" {
		t.Errorf("addresses (-want +got):\n%s", diff)
	}
	if strings.Contains(log.String(), "added") {
		t.Errorf("logged an add that did not happen:\n%s", log)
	}
}

// A removal that fails is reported and tried again by the next reconcile.
func TestLinkLocalsRemovalRetried(t *testing.T) {
	f := &fakeAddrs{addrs: []LinkAddr{ours(ll0)}, delErr: errors.New("EPERM, say")}
	l, _ := newTestLinkLocals(f)
	if errs := l.Apply(f.world(), nil); len(errs) != 1 {
		t.Fatalf("errors = %v, want the removal's", errs)
	}
	f.delErr = nil
	if errs := l.Apply(f.world(), nil); len(errs) > 0 {
		t.Fatal(errs)
	}
	if len(f.addrs) != 0 {
		t.Errorf("left: %v", f.addrs)
	}
}
