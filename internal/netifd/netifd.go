// Package netifd follows OpenWrt's network daemon over ubus: which logical
// interface is up on which device, with which IPv6 addresses and delegated
// prefixes.
//
// It subscribes to the network.interface object, whose notifications carry the
// full status of one interface each (interface.update, interface.down), and
// takes a full dump whenever the subscription (re)attaches: at start, and after
// netifd or ubusd restarted, when notifications may have been lost. Prefix
// changes are not trusted to the "updated" hints netifd adds (lifetime
// refreshes set "prefixes" too): the daemon replans from the whole state and
// diffs.
package netifd

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/ndproxy/ndproxy/internal/ubus"
	"github.com/ndproxy/ndproxy/internal/world"
)

// Object is the netifd object that lists and notifies interfaces.
const Object = "network.interface"

// status is the part of netifd's interface status ndproxy reads
// (netifd ubus.c, netifd_dump_status).
type status struct {
	Interface string    `json:"interface"`
	Up        bool      `json:"up"`
	L3Device  string    `json:"l3_device"`
	Device    string    `json:"device"`
	Addrs     []address `json:"ipv6-address"`
	Prefixes  []address `json:"ipv6-prefix"`
}

type address struct {
	Address string `json:"address"`
	Mask    int    `json:"mask"`
}

func (s status) logical() (world.Logical, error) {
	if s.Interface == "" {
		return world.Logical{}, fmt.Errorf("netifd status without an interface name")
	}
	l := world.Logical{Name: s.Interface, Up: s.Up, Main: s.Device}
	if s.Up {
		l.Device = s.L3Device
	}
	for _, list := range []struct {
		in  []address
		out *[]netip.Prefix
	}{{s.Addrs, &l.Addrs}, {s.Prefixes, &l.Delegated}} {
		for _, a := range list.in {
			ip, err := netip.ParseAddr(a.Address)
			if err != nil || !ip.Is6() || a.Mask < 0 || a.Mask > 128 {
				return world.Logical{}, fmt.Errorf("netifd interface %s: bad IPv6 address %q/%d", s.Interface, a.Address, a.Mask)
			}
			*list.out = append(*list.out, netip.PrefixFrom(ip, a.Mask))
		}
	}
	return l, nil
}

// ParseStatus reads one interface's status, as in a notification.
func ParseStatus(t ubus.Table) (world.Logical, error) {
	var s status
	if err := t.Decode(&s); err != nil {
		return world.Logical{}, fmt.Errorf("netifd status: %w", err)
	}
	return s.logical()
}

// ParseDump reads the reply of `network.interface dump`.
func ParseDump(t ubus.Table) ([]world.Logical, error) {
	var d struct {
		Interfaces []status `json:"interface"`
	}
	if err := t.Decode(&d); err != nil {
		return nil, fmt.Errorf("netifd dump: %w", err)
	}
	out := make([]world.Logical, 0, len(d.Interfaces))
	for _, s := range d.Interfaces {
		l, err := s.logical()
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, nil
}

// Watcher holds netifd's current view of the interfaces.
type Watcher struct {
	log    *slog.Logger
	poke   func()
	resync chan struct{}

	// mu protects ifaces and synced.
	mu     sync.Mutex
	ifaces map[string]world.Logical
	synced bool
}

// dumper is the part of the ubus client the watcher calls.
type dumper interface {
	Call(ctx context.Context, object, method string, args ubus.Table) (ubus.Table, error)
}

// Watch subscribes to netifd through c and keeps the state until ctx is done.
// poke is called after every change.
func Watch(ctx context.Context, c *ubus.Client, log *slog.Logger, poke func()) (*Watcher, error) {
	w := newWatcher(log, poke)
	_, err := c.Subscribe(ctx, Object, ubus.Subscriber{
		Notify:   w.notify,
		Attached: w.requestResync,
		Detached: func() { log.Info("netifd went away; keeping its last state until it is back") },
	})
	if err != nil {
		return nil, fmt.Errorf("subscribe to %s: %w", Object, err)
	}
	go w.run(ctx, c)
	return w, nil
}

func newWatcher(log *slog.Logger, poke func()) *Watcher {
	return &Watcher{log: log, poke: poke, resync: make(chan struct{}, 1), ifaces: map[string]world.Logical{}}
}

func (w *Watcher) requestResync() {
	select {
	case w.resync <- struct{}{}:
	default:
	}
}

// run takes a full dump on every resync request; a failed dump is retried.
func (w *Watcher) run(ctx context.Context, c dumper) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.resync:
		}
		if err := w.dump(ctx, c); err != nil {
			w.log.Warn("netifd dump failed, retrying", "err", err)
			time.AfterFunc(time.Second, w.requestResync)
		}
	}
}

func (w *Watcher) dump(ctx context.Context, c dumper) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	reply, err := c.Call(ctx, Object, "dump", nil)
	if err != nil {
		return err
	}
	ifaces, err := ParseDump(reply)
	if err != nil {
		return err
	}
	w.mu.Lock()
	w.ifaces = make(map[string]world.Logical, len(ifaces))
	for _, l := range ifaces {
		w.ifaces[l.Name] = l
	}
	w.synced = true
	w.mu.Unlock()
	w.log.Debug("netifd dump", "interfaces", len(ifaces))
	w.poke()
	return nil
}

// notify takes one interface.update or interface.down notification.
func (w *Watcher) notify(n ubus.Notification) {
	if n.Type != "interface.update" && n.Type != "interface.down" {
		return
	}
	l, err := ParseStatus(n.Data)
	if err != nil {
		// A notification we cannot read: the dump will tell.
		w.log.Warn("bad netifd notification, resyncing", "type", n.Type, "err", err)
		w.requestResync()
		return
	}
	w.mu.Lock()
	w.ifaces[l.Name] = l
	w.mu.Unlock()
	w.poke()
}

// Interfaces returns the logical interfaces, sorted by name; nil until the
// first dump succeeded.
func (w *Watcher) Interfaces() []world.Logical {
	if w == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.synced {
		return nil
	}
	out := make([]world.Logical, 0, len(w.ifaces))
	for _, l := range w.ifaces {
		out = append(out, l)
	}
	slices.SortFunc(out, func(a, b world.Logical) int { return cmp.Compare(a.Name, b.Name) })
	return out
}
