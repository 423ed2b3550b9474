package wg

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/ndproxy/ndproxy/internal/world"
	"github.com/vishvananda/netlink"
	"golang.zx2c4.com/wireguard/wgctrl"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

const (
	// PollInterval is how often the watched devices are read. WireGuard
	// announces nothing: neither the kernel (no multicast group in its
	// generic netlink family) nor wireguard-go tells anyone that a peer or
	// an allowed-ip changed, so the only way to notice is to ask. A read is
	// one generic netlink dump or one line exchanged over a UNIX socket,
	// and nothing else happens unless the answer differs, so two seconds
	// keeps "within a few seconds" at a cost nobody can measure. Without
	// watched devices the watcher does not wake at all.
	PollInterval = 2 * time.Second
	// readTimeout bounds one read: wgctrl puts no deadline on the
	// userspace socket, and a stopped wireguard-go would hold the read
	// forever.
	readTimeout = 5 * time.Second
)

// SocketDir is where userspace WireGuard implementations put their control
// sockets (wgctrl reads it, hard-coded). It is one directory for all
// network namespaces, so a socket there says nothing about this namespace.
const SocketDir = "/var/run/wireguard"

// Want names a device the daemon would like watched: a downstream of a proxy
// section or the device of a wireguard section, as it exists as a link in
// this network namespace now.
type Want struct {
	Name  string
	Index int
	// Up is the link's administrative state: a change is a link event,
	// and the device is read again at once.
	Up bool
	// HandshakeTimeout is the wireguard section's handshake_timeout, zero
	// when off; a peer going stale is a change worth a poke.
	HandshakeTimeout time.Duration
}

// Reader reads one WireGuard device; *wgctrl.Client is one.
type Reader interface {
	Device(name string) (*wgtypes.Device, error)
	Close() error
}

// Watcher keeps the latest state of the watched WireGuard devices and pokes
// the daemon when it changed in a way the planner cares about: a peer or an
// allowed-ip came or went, a keepalive changed, a peer went stale or came
// back, the device's key changed. Handshake times and byte counters change
// all the time and are not worth a poke on their own.
type Watcher struct {
	log *slog.Logger
	// isWireGuard tells whether the link of w is a WireGuard device;
	// open returns a Reader. Both are replaced in tests.
	isWireGuard func(w Want) bool
	open        func() (Reader, error)
	now         func() time.Time
	readTimeout time.Duration
	poll        time.Duration // PollInterval, shorter in tests
	kick        chan struct{}

	// mu protects devs.
	mu   sync.Mutex
	devs map[string]*device
}

// device is one watched name.
type device struct {
	want Want
	// wireguard is false for a link that is not (yet) a WireGuard device:
	// a tun whose wireguard-go has not made its socket yet, or a plain
	// Ethernet downstream.
	wireguard bool
	// state is the last read; only Name and LinkIndex before the first.
	state world.WireGuard
	// sum is the fingerprint of state the last poke was about.
	sum string
	// err is the last read error, logged once.
	err string
	// reading is set while a read is outstanding; a read that timed out
	// stays outstanding until it returns, and no other is started.
	reading bool
}

// NewWatcher returns a watcher that logs through log.
func NewWatcher(log *slog.Logger) *Watcher {
	return &Watcher{
		log:         log,
		isWireGuard: isWireGuardLink,
		open:        func() (Reader, error) { return wgctrl.New() },
		now:         time.Now,
		readTimeout: readTimeout,
		poll:        PollInterval,
		kick:        make(chan struct{}, 1),
		devs:        map[string]*device{},
	}
}

// isWireGuardLink asks rtnetlink what the link is: kernel WireGuard, or a
// tun for which a userspace implementation has a socket. Cross-checking
// with a link of this namespace keeps a wireguard-go of another namespace
// (same socket directory) out.
func isWireGuardLink(w Want) bool {
	l, err := netlink.LinkByIndex(w.Index)
	if err != nil || l.Attrs().Name != w.Name {
		return false
	}
	switch l.Type() {
	case "wireguard":
		return true
	case "tuntap":
		fi, err := os.Stat(filepath.Join(SocketDir, w.Name+".sock"))
		return err == nil && fi.Mode()&os.ModeSocket != 0
	}
	return false
}

// Watch sets the devices to watch. It runs on the daemon's reconcile path,
// so it never talks to WireGuard itself: it finds out which links are
// WireGuard devices (one rtnetlink request per new or changed link) and
// leaves the reading to Run. A device known to be WireGuard but not read
// yet is reported without peers, never as an ordinary link.
func (w *Watcher) Watch(wants []Want) {
	w.mu.Lock()
	defer w.mu.Unlock()
	fresh := false
	keep := map[string]bool{}
	for _, want := range wants {
		keep[want.Name] = true
		d := w.devs[want.Name]
		if d != nil && d.want == want {
			continue
		}
		if d != nil && d.want.Index == want.Index && d.wireguard {
			// The same link went up or down, or the timeout changed:
			// read it again, and poke after the read whatever it says.
			d.want = want
			d.sum = ""
			fresh = true
			continue
		}
		d = &device{want: want, wireguard: w.isWireGuard(want)}
		d.state = world.WireGuard{Name: want.Name, LinkIndex: want.Index}
		w.devs[want.Name] = d
		fresh = fresh || d.wireguard
	}
	for name := range w.devs {
		if !keep[name] {
			delete(w.devs, name)
		}
	}
	if fresh {
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
}

// Devices returns the WireGuard devices being watched, as last read, sorted
// by name. The slices inside are never modified afterwards.
func (w *Watcher) Devices() []world.WireGuard {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []world.WireGuard
	for _, d := range w.devs {
		if d.wireguard {
			out = append(out, d.state)
		}
	}
	slices.SortFunc(out, func(a, b world.WireGuard) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// Problems lists the watched WireGuard devices that could not be read, as
// status warnings.
func (w *Watcher) Problems() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, d := range w.devs {
		if d.wireguard && d.err != "" {
			out = append(out, fmt.Sprintf("WireGuard %s cannot be read, its peers are not answered for: %s", d.want.Name, d.err))
		}
	}
	slices.Sort(out)
	return out
}

// Run reads the watched devices every PollInterval, and at once after Watch
// was handed a new one, until ctx is done. It calls poke, which must not
// block, after every change it notices. While no WireGuard device is
// watched it only waits for Watch: an idle daemon wakes for nothing.
func (w *Watcher) Run(ctx context.Context, poke func()) {
	var r Reader
	defer func() {
		if r != nil {
			r.Close()
		}
	}()
	timer := time.NewTimer(w.poll)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.kick:
		case <-timer.C:
		}
		if r == nil {
			var err error
			if r, err = w.open(); err != nil {
				w.log.Error("cannot talk to WireGuard", "err", err)
				r = nil
			}
		}
		if r != nil && w.readAll(ctx, r) {
			poke()
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		if w.watching() {
			timer.Reset(w.poll)
		}
	}
}

// watching reports whether any watched link is a WireGuard device.
func (w *Watcher) watching() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, d := range w.devs {
		if d.wireguard {
			return true
		}
	}
	return false
}

// readAll reads every watched device once, one at a time (wgctrl's
// Devices() would fail as a whole on one stale userspace socket), and
// reports whether anything worth a poke changed.
func (w *Watcher) readAll(ctx context.Context, r Reader) bool {
	w.mu.Lock()
	var todo []Want
	for _, d := range w.devs {
		if !d.wireguard && d.want.Index != 0 {
			// A tun becomes WireGuard when wireguard-go makes its socket.
			d.wireguard = w.isWireGuard(d.want)
		}
		if d.wireguard && !d.reading {
			d.reading = true
			todo = append(todo, d.want)
		}
	}
	w.mu.Unlock()

	changed := false
	for _, want := range todo {
		if ctx.Err() != nil {
			break
		}
		if w.store(want, w.read(r, want.Name)) {
			changed = true
		}
	}
	return changed
}

// readResult is the outcome of one read. done is closed when the read has
// returned: at once, or after a timeout some time later.
type readResult struct {
	dev  *wgtypes.Device
	err  error
	done chan struct{}
}

// read reads one device, giving up after readTimeout.
func (w *Watcher) read(r Reader, name string) readResult {
	ch := make(chan readResult, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		dev, err := r.Device(name)
		ch <- readResult{dev: dev, err: err}
	}()
	timer := time.NewTimer(w.readTimeout)
	defer timer.Stop()
	select {
	case res := <-ch:
		res.done = done
		return res
	case <-timer.C:
		return readResult{err: fmt.Errorf("no answer within %v", w.readTimeout), done: done}
	}
}

// store takes the outcome of reading want and reports whether the planner
// should look again.
func (w *Watcher) store(want Want, res readResult) bool {
	dev, err, done := res.dev, res.err, res.done
	at := w.now()
	w.mu.Lock()
	defer w.mu.Unlock()
	d := w.devs[want.Name]
	if d == nil || d.want.Index != want.Index {
		// No longer watched, or another link by now; Watch made the
		// newer entry and kicked. A timed-out read still in flight
		// belongs to the old entry and is forgotten with it.
		return false
	}
	select {
	case <-done:
		d.reading = false
	default:
		go func() {
			<-done
			w.mu.Lock()
			d.reading = false
			w.mu.Unlock()
		}()
	}
	var state world.WireGuard
	if err != nil {
		// Unreadable means no peers: never answer for what cannot be
		// checked. A device that vanished is normal (the next Watch
		// drops it); anything else is logged once.
		if msg := err.Error(); msg != d.err && !errors.Is(err, os.ErrNotExist) {
			w.log.Warn("cannot read WireGuard device", "device", want.Name, "err", err)
			d.err = msg
		}
		state = world.WireGuard{Name: want.Name, LinkIndex: want.Index, Read: at}
	} else {
		if d.err != "" {
			w.log.Info("WireGuard device readable again", "device", want.Name)
			d.err = ""
		}
		state = Convert(dev, want.Index, at)
	}
	d.state = state
	sum := fingerprint(&state, want.HandshakeTimeout)
	if sum == d.sum {
		return false
	}
	if d.sum != "" || len(state.Peers) > 0 {
		w.log.Debug("WireGuard device changed", "device", want.Name, "peers", len(state.Peers))
	}
	d.sum = sum
	return true
}

// Convert turns what wgctrl read into the world's terms: IPv6 allowed-ips
// only, masked, peers sorted by key, derived link-locals filled in.
func Convert(dev *wgtypes.Device, index int, at time.Time) world.WireGuard {
	out := world.WireGuard{Name: dev.Name, LinkIndex: index, Read: at}
	if dev.PublicKey != (wgtypes.Key{}) {
		out.PublicKey = dev.PublicKey
		out.LinkLocal = LinkLocal(dev.PublicKey)
	}
	for _, p := range dev.Peers {
		peer := world.Peer{
			PublicKey:     p.PublicKey,
			LinkLocal:     LinkLocal(p.PublicKey),
			Keepalive:     p.PersistentKeepaliveInterval,
			LastHandshake: p.LastHandshakeTime,
		}
		for _, ipn := range p.AllowedIPs {
			a, ok := netip.AddrFromSlice(ipn.IP)
			ones, bits := ipn.Mask.Size()
			if !ok || bits != 128 || a.Is4In6() {
				continue
			}
			peer.AllowedIPs = append(peer.AllowedIPs, netip.PrefixFrom(a, ones).Masked())
		}
		slices.SortFunc(peer.AllowedIPs, comparePrefix)
		out.Peers = append(out.Peers, peer)
	}
	slices.SortFunc(out.Peers, func(a, b world.Peer) int { return bytes.Compare(a.PublicKey[:], b.PublicKey[:]) })
	return out
}

func comparePrefix(a, b netip.Prefix) int {
	return cmp.Or(a.Addr().Compare(b.Addr()), cmp.Compare(a.Bits(), b.Bits()))
}

// fingerprint is what of d the planner uses, as a string to compare: the
// key, and each peer's key, keepalive, allowed-ips and whether it is gone.
func fingerprint(d *world.WireGuard, timeout time.Duration) string {
	var b bytes.Buffer
	b.Write(d.PublicKey[:])
	for i := range d.Peers {
		p := &d.Peers[i]
		fmt.Fprintf(&b, "|%x %v %v", p.PublicKey, p.Keepalive, p.Gone(timeout, d.Read))
		for _, a := range p.AllowedIPs {
			fmt.Fprintf(&b, " %v", a)
		}
	}
	return b.String()
}
