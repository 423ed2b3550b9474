package netmgr

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/godbus/dbus/v5"
	"golang.org/x/sys/unix"
)

// Watcher holds the delegated prefixes systemd-networkd reports, per device.
//
// It is level-triggered like the rest of ndproxy: every signal from
// networkd (a PropertiesChanged of any of its objects, its name changing
// owner) only asks for a fresh Describe(), which replaces the whole state.
// A signal lost while a refresh runs costs nothing: the refresh after it
// reads the newest state.
type Watcher struct {
	log  *slog.Logger
	poke func()
	// now reads CLOCK_BOOTTIME, the clock of networkd's lifetimes.
	now func() time.Duration
	// netns is the inode of this process's network namespace; 0 when unknown.
	netns uint64

	// mu protects delegated and why.
	mu        sync.Mutex
	delegated []Delegation
	// why is the last reason given for having no delegated prefixes.
	why string
}

// New returns a watcher that calls poke after every change of the
// delegated prefixes.
func New(log *slog.Logger, poke func()) *Watcher {
	w := &Watcher{log: log, poke: poke, now: boottime}
	if fi, err := os.Stat("/proc/self/ns/net"); err == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			w.netns = st.Ino
		}
	}
	return w
}

func boottime() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

// Delegated returns the delegated prefixes per device; nil on a nil
// watcher and while networkd holds none.
func (w *Watcher) Delegated() map[string][]netip.Prefix {
	if w == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.delegated) == 0 {
		return nil
	}
	out := make(map[string][]netip.Prefix, len(w.delegated))
	for _, d := range w.delegated {
		out[d.Device] = slices.Clone(d.Prefixes)
	}
	return out
}

// Backoff between connection attempts, as for ndproxy's own bus object
// (the bus may start after ndproxy, or restart under it); dbusapi already
// warns when the bus is not there, so this is logged at debug level.
const (
	firstRetry = time.Second
	maxRetry   = 30 * time.Second
	// callTimeout bounds one call to networkd.
	callTimeout = 5 * time.Second
)

// Run follows networkd on the bus at addr until ctx is done, connecting
// again whenever the connection is lost.
func (w *Watcher) Run(ctx context.Context, addr string) {
	wait := firstRetry
	for {
		conn, err := dbus.Connect(addr, dbus.WithContext(ctx))
		if err == nil {
			wait = firstRetry
			err = w.follow(ctx, conn)
			conn.Close()
		}
		if ctx.Err() != nil {
			return
		}
		w.log.Debug("cannot follow systemd-networkd on D-Bus, retrying", "address", addr, "err", err, "in", wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, maxRetry)
	}
}

// errLost ends follow when the bus connection goes away.
var errLost = errors.New("D-Bus connection lost")

// follow subscribes to networkd's signals on conn and refreshes on each
// until ctx is done or the connection is lost.
func (w *Watcher) follow(ctx context.Context, conn *dbus.Conn) error {
	signals := make(chan *dbus.Signal, 64)
	conn.Signal(signals)
	defer conn.RemoveSignal(signals)
	// Every property networkd announces, on the manager and on each link
	// (/org/freedesktop/network1/link/_3<ifindex>): DHCPv6Client.State is
	// the one that follows the leases (255 and later); the others are
	// cheap to take along and cover a link that comes or goes.
	if err := conn.AddMatchSignalContext(ctx,
		dbus.WithMatchSender(Name),
		dbus.WithMatchInterface("org.freedesktop.DBus.Properties"),
		dbus.WithMatchMember("PropertiesChanged"),
		dbus.WithMatchPathNamespace(Path),
	); err != nil {
		return fmt.Errorf("subscribe to %s: %w", Name, err)
	}
	// networkd starting, stopping or restarting.
	if err := conn.AddMatchSignalContext(ctx,
		dbus.WithMatchSender("org.freedesktop.DBus"),
		dbus.WithMatchInterface("org.freedesktop.DBus"),
		dbus.WithMatchMember("NameOwnerChanged"),
		dbus.WithMatchArg(0, Name),
	); err != nil {
		return fmt.Errorf("subscribe to %s's owner: %w", Name, err)
	}

	var retry <-chan time.Time
	retryIn := firstRetry
	refresh := true
	for {
		if refresh {
			refresh, retry = false, nil
			if err := w.refresh(ctx, conn); err != nil {
				// networkd is there but did not answer as it should:
				// try again, slower each time, until it does.
				w.log.Warn("cannot read systemd-networkd's delegated prefixes, retrying", "err", err, "in", retryIn)
				retry = time.After(retryIn)
				retryIn = min(2*retryIn, maxRetry)
			} else {
				retryIn = firstRetry
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-conn.Context().Done():
			return errLost
		case _, ok := <-signals:
			if !ok {
				return errLost
			}
			refresh = true
		case <-retry:
			refresh = true
		}
	}
}

// refresh asks networkd for its state and takes the delegated prefixes from
// it. networkd being absent, too old or in another network namespace is no
// error: there are no delegated prefixes then.
func (w *Watcher) refresh(ctx context.Context, conn *dbus.Conn) error {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	obj := conn.Object(Name, Path)
	// NoAutoStart: asking must not start networkd on a host that uses
	// something else (its D-Bus activation file is installed everywhere).
	if w.netns != 0 {
		var v dbus.Variant
		err := obj.CallWithContext(ctx, "org.freedesktop.DBus.Properties.Get", dbus.FlagNoAutoStart, Manager, "NamespaceId").Store(&v)
		switch {
		case absent(err):
			w.set(nil, "systemd-networkd is not on the bus: prefix_from follows the devices' own addresses only")
			return nil
		case err == nil:
			// NamespaceId is the inode of networkd's network namespace; a
			// networkd of another namespace (ndproxy in a container, a
			// test lab) talks about other devices of the same names.
			if id, ok := v.Value().(uint64); ok && id != 0 && id != w.netns {
				w.set(nil, "systemd-networkd manages another network namespace: its prefixes are not taken")
				return nil
			}
		}
		// Other errors: a networkd without the property; Describe tells.
	}
	var js string
	err := obj.CallWithContext(ctx, Manager+".Describe", dbus.FlagNoAutoStart).Store(&js)
	var de dbus.Error
	switch {
	case absent(err):
		w.set(nil, "systemd-networkd is not on the bus: prefix_from follows the devices' own addresses only")
		return nil
	case errors.As(err, &de) && (de.Name == "org.freedesktop.DBus.Error.UnknownMethod" || de.Name == "org.freedesktop.DBus.Error.UnknownObject"):
		w.set(nil, "systemd-networkd has no Describe(): too old (before 246) to tell delegated prefixes")
		return nil
	case err != nil:
		return err
	}
	ds, _, err := ParseDescribe([]byte(js), w.now())
	if err != nil {
		return err
	}
	w.set(ds, "systemd-networkd holds no delegated prefix (it publishes them since version 255)")
	return nil
}

// absent reports whether err says that nobody owns networkd's name.
func absent(err error) bool {
	var de dbus.Error
	return errors.As(err, &de) && (de.Name == "org.freedesktop.DBus.Error.ServiceUnknown" || de.Name == "org.freedesktop.DBus.Error.NameHasNoOwner")
}

// set replaces the delegated prefixes and pokes the daemon when they
// changed. why says why there are none; it is logged at debug level when it
// changes (on most hosts there are none, and that is fine).
func (w *Watcher) set(ds []Delegation, why string) {
	w.mu.Lock()
	changed := !slices.EqualFunc(w.delegated, ds, func(a, b Delegation) bool {
		return a.Device == b.Device && slices.Equal(a.Prefixes, b.Prefixes)
	})
	w.delegated = ds
	if len(ds) > 0 {
		why = ""
	}
	tell := why != "" && why != w.why
	w.why = why
	w.mu.Unlock()
	if tell {
		w.log.Debug(why)
	}
	if !changed {
		return
	}
	if len(ds) == 0 {
		w.log.Info("no delegated prefixes from systemd-networkd any more")
	}
	for _, d := range ds {
		w.log.Info("delegated prefixes from systemd-networkd", "interface", d.Device, "prefixes", d.Prefixes)
	}
	w.poke()
}
