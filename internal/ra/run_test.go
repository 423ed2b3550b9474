package ra

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"testing"
	"time"
)

// TestRunnerStops starts a runner on the loopback link, where nothing is
// sent (no upstream, no RA to relay), and checks that stopping it ends every
// goroutine it started.
func TestRunnerStops(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for raw and packet sockets")
	}
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Skip("no loopback link")
	}
	before := runtime.NumGoroutine()
	learned := make(chan netip.Addr, 1)
	r, err := Start(Config{Links: []Link{{Index: lo.Index, Name: "lo", MTU: lo.MTU, Source: netip.MustParseAddr("fe80::1")}},
		Settings: Settings{Interval: time.Minute, HoldDown: time.Minute}},
		slog.New(slog.NewTextHandler(io.Discard, nil)), func(a netip.Addr, _ int) { learned <- a })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx) }()
	r.Update(Config{Settings: Settings{Interval: time.Minute, HoldDown: time.Minute}})
	if st := r.Status(); st.State != "waiting" {
		t.Errorf("state %q with no upstream RA, want waiting", st.State)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Errorf("%d goroutines before, %d after stopping:\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}
