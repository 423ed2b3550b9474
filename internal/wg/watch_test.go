package wg

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// fakeReader serves devices from a map; a missing name is os.ErrNotExist.
type fakeReader struct {
	mu    sync.Mutex
	devs  map[string]*wgtypes.Device
	err   error
	reads int
	// block, when set, holds every read until it is closed.
	block chan struct{}
}

func (f *fakeReader) Device(name string) (*wgtypes.Device, error) {
	f.mu.Lock()
	block := f.block
	f.reads++
	f.mu.Unlock()
	if block != nil {
		<-block
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	d, ok := f.devs[name]
	if !ok {
		return nil, os.ErrNotExist
	}
	c := *d
	c.Peers = append([]wgtypes.Peer(nil), d.Peers...)
	return &c, nil
}

func (f *fakeReader) Close() error { return nil }

func (f *fakeReader) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reads
}

func (f *fakeReader) set(name string, d *wgtypes.Device) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d.Name = name
	f.devs[name] = d
}

func key(b byte) wgtypes.Key {
	var k wgtypes.Key
	k[0] = b
	return k
}

func ipnet(s string) net.IPNet {
	_, n, err := net.ParseCIDR(s)
	if err != nil {
		panic(err)
	}
	return *n
}

type watchFixture struct {
	w     *Watcher
	r     *fakeReader
	pokes atomic.Int32
	now   time.Time
}

func newWatchFixture(t *testing.T, wireguard map[string]bool) *watchFixture {
	t.Helper()
	f := &watchFixture{r: &fakeReader{devs: map[string]*wgtypes.Device{}}, now: time.Unix(1_700_000_000, 0)}
	f.w = NewWatcher(slog.New(slog.NewTextHandler(io.Discard, nil)))
	f.w.isWireGuard = func(w Want) bool { return wireguard[w.Name] }
	f.w.open = func() (Reader, error) { return f.r, nil }
	f.w.now = func() time.Time { return f.now }
	return f
}

// poll is one tick of Run; it reports whether Run would have poked.
func (f *watchFixture) poll() bool {
	return f.w.readAll(context.Background(), f.r)
}

func TestWatcherReadsOnlyWireGuardLinks(t *testing.T) {
	f := newWatchFixture(t, map[string]bool{"wg0": true})
	f.r.set("wg0", &wgtypes.Device{PublicKey: key(1)})
	f.r.set("eth1", &wgtypes.Device{PublicKey: key(2)}) // another netns's wireguard-go
	f.w.Watch([]Want{{Name: "wg0", Index: 5}, {Name: "eth1", Index: 6}})

	// Known as WireGuard before the first read: never an ordinary link.
	devs := f.w.Devices()
	if len(devs) != 1 || devs[0].Name != "wg0" || devs[0].LinkIndex != 5 || len(devs[0].Peers) != 0 {
		t.Fatalf("before the first read: %+v", devs)
	}
	if !f.poll() {
		t.Fatal("first read did not poke")
	}
	devs = f.w.Devices()
	if len(devs) != 1 || devs[0].PublicKey != key(1) || devs[0].LinkLocal != LinkLocal(key(1)) {
		t.Fatalf("after the first read: %+v", devs)
	}
	if f.r.count() != 1 {
		t.Errorf("%d reads, want 1 (eth1 is not a WireGuard link here)", f.r.count())
	}
}

func TestWatcherPokesOnlyOnChanges(t *testing.T) {
	f := newWatchFixture(t, map[string]bool{"wg0": true})
	peer := wgtypes.Peer{
		PublicKey:         key(9),
		AllowedIPs:        []net.IPNet{ipnet("2001:db8::2/128"), ipnet("10.0.0.2/32")},
		LastHandshakeTime: f.now,
	}
	f.r.set("wg0", &wgtypes.Device{PublicKey: key(1), Peers: []wgtypes.Peer{peer}})
	f.w.Watch([]Want{{Name: "wg0", Index: 5}})
	if !f.poll() {
		t.Fatal("first read did not poke")
	}
	got := f.w.Devices()[0].Peers
	if len(got) != 1 || len(got[0].AllowedIPs) != 1 || got[0].AllowedIPs[0] != netip.MustParsePrefix("2001:db8::2/128") {
		t.Fatalf("peers: %+v (want the IPv6 allowed-ip only)", got)
	}

	// Handshakes and counters move all the time: no poke.
	peer.LastHandshakeTime = f.now.Add(time.Minute)
	peer.ReceiveBytes = 1000
	f.r.set("wg0", &wgtypes.Device{PublicKey: key(1), Peers: []wgtypes.Peer{peer}})
	f.now = f.now.Add(time.Minute)
	if f.poll() {
		t.Error("a new handshake poked")
	}
	if f.w.Devices()[0].Peers[0].LastHandshake != peer.LastHandshakeTime {
		t.Error("the handshake time was not kept")
	}
	// Nothing changed at all: no poke.
	if f.poll() {
		t.Error("an unchanged device poked")
	}
	// An allowed-ip more: poke.
	peer.AllowedIPs = append(peer.AllowedIPs, ipnet("2001:db8::3/128"))
	f.r.set("wg0", &wgtypes.Device{PublicKey: key(1), Peers: []wgtypes.Peer{peer}})
	if !f.poll() {
		t.Error("a new allowed-ip did not poke")
	}
	// A peer less: poke.
	f.r.set("wg0", &wgtypes.Device{PublicKey: key(1)})
	if !f.poll() {
		t.Error("a removed peer did not poke")
	}
	if n := len(f.w.Devices()[0].Peers); n != 0 {
		t.Errorf("%d peers after removal", n)
	}
}

func TestWatcherStalePeer(t *testing.T) {
	f := newWatchFixture(t, map[string]bool{"wg0": true})
	peer := wgtypes.Peer{
		PublicKey:                   key(9),
		AllowedIPs:                  []net.IPNet{ipnet("2001:db8::2/128")},
		PersistentKeepaliveInterval: 25 * time.Second,
		LastHandshakeTime:           f.now,
	}
	f.r.set("wg0", &wgtypes.Device{PublicKey: key(1), Peers: []wgtypes.Peer{peer}})
	f.w.Watch([]Want{{Name: "wg0", Index: 5, HandshakeTimeout: 3 * time.Minute}})
	f.poll()
	f.now = f.now.Add(2 * time.Minute)
	if f.poll() {
		t.Error("poked while the handshake is younger than the timeout")
	}
	f.now = f.now.Add(2 * time.Minute)
	if !f.poll() {
		t.Error("no poke when the peer went stale")
	}
	d := f.w.Devices()[0]
	if !d.Peers[0].Gone(3*time.Minute, d.Read) {
		t.Error("the stale peer is not gone")
	}
	peer.LastHandshakeTime = f.now
	f.r.set("wg0", &wgtypes.Device{PublicKey: key(1), Peers: []wgtypes.Peer{peer}})
	if !f.poll() {
		t.Error("no poke when the peer came back")
	}
}

func TestWatcherReadErrorMeansNoPeers(t *testing.T) {
	f := newWatchFixture(t, map[string]bool{"wg0": true})
	f.r.set("wg0", &wgtypes.Device{PublicKey: key(1), Peers: []wgtypes.Peer{{PublicKey: key(9), AllowedIPs: []net.IPNet{ipnet("2001:db8::2/128")}}}})
	f.w.Watch([]Want{{Name: "wg0", Index: 5}})
	f.poll()
	f.r.mu.Lock()
	f.r.err = errors.New("dial unix /var/run/wireguard/wg0.sock: connect: connection refused")
	f.r.mu.Unlock()
	if !f.poll() {
		t.Error("no poke when the device became unreadable")
	}
	if d := f.w.Devices(); len(d) != 1 || len(d[0].Peers) != 0 {
		t.Errorf("unreadable device: %+v, want it without peers", d)
	}
	if p := f.w.Problems(); len(p) != 1 || !strings.Contains(p[0], "connection refused") {
		t.Errorf("problems %q, want the read error", p)
	}
}

func TestWatcherTunBecomesWireGuard(t *testing.T) {
	wireguard := map[string]bool{}
	f := newWatchFixture(t, wireguard)
	f.w.Watch([]Want{{Name: "wg0", Index: 5}})
	if len(f.w.Devices()) != 0 || f.poll() {
		t.Fatal("a tun without socket counts as WireGuard")
	}
	wireguard["wg0"] = true // wireguard-go made its socket
	f.r.set("wg0", &wgtypes.Device{PublicKey: key(1)})
	if !f.poll() || len(f.w.Devices()) != 1 {
		t.Fatal("the tun was not taken up once its socket appeared")
	}
	// Gone from the wanted set: gone from the output.
	f.w.Watch(nil)
	if len(f.w.Devices()) != 0 {
		t.Error("an unwatched device is still reported")
	}
}

func TestWatcherHungReadTimesOut(t *testing.T) {
	f := newWatchFixture(t, map[string]bool{"wg0": true})
	f.w.readTimeout = 50 * time.Millisecond
	f.r.set("wg0", &wgtypes.Device{PublicKey: key(1)})
	f.w.Watch([]Want{{Name: "wg0", Index: 5}})
	f.r.block = make(chan struct{})
	f.poll() // times out
	if f.poll(); f.r.count() != 1 {
		t.Errorf("%d reads started while one is hung, want 1", f.r.count())
	}
	close(f.r.block)
	waitFor(t, func() bool {
		f.w.mu.Lock()
		defer f.w.mu.Unlock()
		return !f.w.devs["wg0"].reading
	})
	f.r.mu.Lock()
	f.r.block = nil
	f.r.mu.Unlock()
	if !f.poll() || f.w.Devices()[0].PublicKey != key(1) {
		t.Error("the device was not read again after the hung read returned")
	}
}

func TestWatcherRunStopsCleanly(t *testing.T) {
	before := runtime.NumGoroutine()
	f := newWatchFixture(t, map[string]bool{"wg0": true})
	f.r.set("wg0", &wgtypes.Device{PublicKey: key(1)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); f.w.Run(ctx, func() { f.pokes.Add(1) }) }()
	f.w.Watch([]Want{{Name: "wg0", Index: 5}}) // kicks a read at once
	waitFor(t, func() bool { return f.pokes.Load() == 1 })
	cancel()
	<-done
	waitFor(t, func() bool { return runtime.NumGoroutine() <= before })
}

// Devices are read every poll interval while one is a WireGuard device, and
// never while none is: an idle daemon must not wake up for nothing.
func TestWatcherPollsOnlyWireGuard(t *testing.T) {
	for _, tc := range []struct {
		name      string
		wireguard map[string]bool
		polled    bool
	}{
		{"no WireGuard device", map[string]bool{}, false},
		{"a WireGuard device", map[string]bool{"wg0": true}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newWatchFixture(t, tc.wireguard)
			f.r.set("wg0", &wgtypes.Device{PublicKey: key(1)})
			opened := atomic.Int32{}
			f.w.open = func() (Reader, error) { opened.Add(1); return f.r, nil }
			f.w.poll = 5 * time.Millisecond
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); f.w.Run(ctx, func() {}) }()
			f.w.Watch([]Want{{Name: "wg0", Index: 5}, {Name: "eth0", Index: 2}})
			time.Sleep(100 * time.Millisecond) // twenty poll intervals
			cancel()
			<-done
			if got := f.r.count() > 2; got != tc.polled {
				t.Errorf("%d reads in twenty poll intervals; want polling %v", f.r.count(), tc.polled)
			}
			if !tc.polled && opened.Load() != 0 {
				t.Errorf("WireGuard opened %d times with no WireGuard device", opened.Load())
			}
		})
	}
}

// waitFor polls cond for up to two seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for i := 0; i < 200; i++ {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("condition not met within 2s")
}

// A link event on a watched device (down, up) reads it again at once.
func TestWatcherRereadsOnLinkEvents(t *testing.T) {
	f := newWatchFixture(t, map[string]bool{"wg0": true})
	f.r.set("wg0", &wgtypes.Device{PublicKey: key(1)})
	f.w.Watch([]Want{{Name: "wg0", Index: 5, Up: true}})
	f.poll()
	select {
	case <-f.w.kick:
	default:
	}
	f.w.Watch([]Want{{Name: "wg0", Index: 5, Up: true}})
	select {
	case <-f.w.kick:
		t.Error("an unchanged link kicked a read")
	default:
	}
	f.w.Watch([]Want{{Name: "wg0", Index: 5, Up: false}})
	select {
	case <-f.w.kick:
	default:
		t.Fatal("a link going down did not kick a read")
	}
	if !f.poll() {
		t.Error("the read after a link event did not poke")
	}
}
