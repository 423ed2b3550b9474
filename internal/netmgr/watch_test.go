package netmgr_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/ndproxy/ndproxy/internal/dbusapi/dbustest"
	"github.com/ndproxy/ndproxy/internal/netmgr"
	"github.com/ndproxy/ndproxy/internal/netmgr/netmgrtest"
)

// syncBuffer is a log sink for a watcher that runs in its own goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// watch runs a watcher on the bus at addr until the test ends, and checks
// then that Run has returned.
func watch(t *testing.T, addr string) (*netmgr.Watcher, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	w := netmgr.New(log, func() {})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.Run(ctx, addr)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("Watcher.Run did not return after its context was cancelled")
		}
		if t.Failed() {
			t.Logf("watcher's log:\n%s", logs)
		}
	})
	return w, logs
}

// ownNetns is the inode of this test's network namespace, as networkd's
// NamespaceId would report it when it manages the same one.
func ownNetns(t *testing.T) uint64 {
	t.Helper()
	fi, err := os.Stat("/proc/self/ns/net")
	if err != nil {
		t.Skip(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

// waitDelegated polls until the watcher holds want.
func waitDelegated(t *testing.T, w *netmgr.Watcher, want map[string][]netip.Prefix) {
	t.Helper()
	var diff string
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if diff = cmp.Diff(want, w.Delegated(), cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff == "" {
			return
		}
	}
	t.Fatalf("delegated prefixes (-want +got):\n%s", diff)
}

// TestWatcherFollowsNetworkd: prefixes arriving, changing and going away,
// networkd stopping and starting again, and the bus restarting, all seen
// through a real dbus-daemon with networkd's own policy.
func TestWatcherFollowsNetworkd(t *testing.T) {
	bus := dbustest.Start(t, netmgrtest.Policies(t)...)
	ns := ownNetns(t)
	links := []netmgrtest.Link{{Index: 1, Name: "lo"}, {Index: 2, Name: "wan0"}, {Index: 3, Name: "lan0"}}
	nd := netmgrtest.Start(t, bus.Address(), ns, links...)
	w, logs := watch(t, bus.Address())
	p := netip.MustParsePrefix

	waitDelegated(t, w, nil)
	must(t, nd.SetPrefixes(2, time.Hour, p("2001:db8:77:600::/64"), p("2001:db8:77:500::/56")))
	waitDelegated(t, w, map[string][]netip.Prefix{"wan0": {p("2001:db8:77:500::/56"), p("2001:db8:77:600::/64")}})
	// A new lease with another prefix.
	must(t, nd.SetPrefixes(2, 0, p("2001:db8:88:600::/64")))
	waitDelegated(t, w, map[string][]netip.Prefix{"wan0": {p("2001:db8:88:600::/64")}})
	// The lease is lost.
	must(t, nd.SetPrefixes(2, 0))
	waitDelegated(t, w, nil)

	// networkd stops while it holds a prefix: the prefix goes with it.
	must(t, nd.SetPrefixes(2, 0, p("2001:db8:99:600::/64")))
	waitDelegated(t, w, map[string][]netip.Prefix{"wan0": {p("2001:db8:99:600::/64")}})
	nd.Stop()
	waitDelegated(t, w, nil)
	// It starts again, and has its lease back before anyone asks.
	nd = netmgrtest.Start(t, bus.Address(), ns, links...)
	must(t, nd.SetPrefixes(2, 0, p("2001:db8:99:600::/64")))
	waitDelegated(t, w, map[string][]netip.Prefix{"wan0": {p("2001:db8:99:600::/64")}})

	// The bus restarts (networkd reconnects; so does the watcher).
	bus.Restart()
	nd = netmgrtest.Start(t, bus.Address(), ns, links...)
	must(t, nd.SetPrefixes(2, 0, p("2001:db8:aa:600::/64")))
	waitDelegated(t, w, map[string][]netip.Prefix{"wan0": {p("2001:db8:aa:600::/64")}})

	if s := logs.String(); strings.Contains(s, "level=ERROR") || strings.Contains(s, "level=WARN") {
		t.Errorf("warnings or errors in the watcher's log:\n%s", s)
	}
}

// TestWatcherNoNetworkd: a bus without networkd (a host with
// NetworkManager, or none) gives no prefixes, no error and one debug line.
func TestWatcherNoNetworkd(t *testing.T) {
	bus := dbustest.Start(t, netmgrtest.Policies(t)...)
	w, logs := watch(t, bus.Address())
	waitFor(t, "the debug line", func() bool { return strings.Contains(logs.String(), "not on the bus") })
	if d := w.Delegated(); d != nil {
		t.Errorf("delegated prefixes %v without networkd", d)
	}
	s := logs.String()
	if !strings.Contains(s, "level=DEBUG") || strings.Contains(s, "level=WARN") || strings.Contains(s, "level=ERROR") || strings.Contains(s, "level=INFO") {
		t.Errorf("want only debug lines, got:\n%s", s)
	}
}

// TestWatcherOtherNamespace: a networkd that manages another network
// namespace talks about other devices, even when their names are the same.
func TestWatcherOtherNamespace(t *testing.T) {
	bus := dbustest.Start(t, netmgrtest.Policies(t)...)
	nd := netmgrtest.Start(t, bus.Address(), ownNetns(t)+1, netmgrtest.Link{Index: 2, Name: "wan0"})
	must(t, nd.SetPrefixes(2, 0, netip.MustParsePrefix("2001:db8:77:600::/64")))
	w, logs := watch(t, bus.Address())
	waitFor(t, "the debug line", func() bool { return strings.Contains(logs.String(), "another network namespace") })
	if d := w.Delegated(); d != nil {
		t.Errorf("took %v from a networkd of another namespace", d)
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if ok() {
			return
		}
	}
	t.Fatalf("no %s within 5s", what)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(fmt.Errorf("stand-in networkd: %w", err))
	}
}
