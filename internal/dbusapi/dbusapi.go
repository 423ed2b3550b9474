// Package dbusapi connects ndproxy to the plain Linux service manager: it
// offers the daemon's status and reload on the D-Bus system bus, the same
// two that OpenWrt gets on ubus, and tells systemd about the daemon's state
// over $NOTIFY_SOCKET (notify.go).
//
// The bus API (docs/linux.md):
//
//	service   org.ndproxy.NDProxy1
//	object    /org/ndproxy/NDProxy1
//	interface org.ndproxy.NDProxy1
//	  Status() → s       the status of docs/status.md, as JSON
//	  Reload()           re-read the configuration file
//	errors    org.ndproxy.NDProxy1.Error.InvalidConfig  the file is invalid;
//	                     the running configuration stays
//	          org.ndproxy.NDProxy1.Error.Failed         anything else
//
// The policy in files/dbus/org.ndproxy.NDProxy1.conf lets root own the name
// and call both methods, and everyone call Status.
package dbusapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/godbus/dbus/v5/introspect"
	"github.com/ndproxy/ndproxy/internal/config"
	"github.com/ndproxy/ndproxy/internal/control"
)

// The names of the API. Version 1 is in the names, as D-Bus APIs do, so that
// an incompatible change can live beside it as NDProxy2.
const (
	Name      = "org.ndproxy.NDProxy1"
	Path      = dbus.ObjectPath("/org/ndproxy/NDProxy1")
	Interface = "org.ndproxy.NDProxy1"

	// ErrInvalidConfig is the error of Reload when the file is invalid; its
	// message names every bad ndproxy.<section>.<option>.
	ErrInvalidConfig = Interface + ".Error.InvalidConfig"
	// ErrFailed is every other error.
	ErrFailed = Interface + ".Error.Failed"
)

// SystemSocket is where dbus-daemon (and dbus-broker) listen for the system
// bus.
const SystemSocket = "/run/dbus/system_bus_socket"

// SystemBusAddress is $DBUS_SYSTEM_BUS_ADDRESS, or the standard socket when
// it exists; "" on hosts without a system bus (OpenWrt, containers).
func SystemBusAddress() string {
	if a := os.Getenv("DBUS_SYSTEM_BUS_ADDRESS"); a != "" {
		return a
	}
	if _, err := os.Stat(SystemSocket); err == nil {
		return "unix:path=" + SystemSocket
	}
	return ""
}

// object is what the bus sees at Path.
type object struct{ h control.Handler }

// Status returns the daemon's status as JSON.
func (o object) Status() (string, *dbus.Error) {
	b, err := json.Marshal(o.h.Status())
	if err != nil {
		return "", dbus.NewError(ErrFailed, []any{err.Error()})
	}
	return string(b), nil
}

// Reload re-reads the configuration file.
func (o object) Reload() *dbus.Error {
	err := o.h.Reload()
	var cfgErr *config.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &cfgErr):
		return dbus.NewError(ErrInvalidConfig, []any{err.Error() + " (the running configuration stays in force)"})
	default:
		return dbus.NewError(ErrFailed, []any{err.Error()})
	}
}

var introspection = introspect.NewIntrospectable(&introspect.Node{
	Name: string(Path),
	Interfaces: []introspect.Interface{{
		Name: Interface,
		Methods: []introspect.Method{
			{Name: "Status", Args: []introspect.Arg{{Name: "status", Type: "s", Direction: "out"}}},
			{Name: "Reload"},
		},
	}},
})

// Serve exports h at Path on conn and takes the name Name. It fails when
// the bus refuses the name (no policy installed) or someone else has it.
func Serve(conn *dbus.Conn, h control.Handler) error {
	if err := conn.Export(object{h}, Path, Interface); err != nil {
		return err
	}
	if err := conn.Export(introspection, Path, "org.freedesktop.DBus.Introspectable"); err != nil {
		return err
	}
	reply, err := conn.RequestName(Name, dbus.NameFlagDoNotQueue)
	if err != nil {
		return fmt.Errorf("own %s: %w (is %s.conf installed in /usr/share/dbus-1/system.d?)", Name, err, Name)
	}
	if reply != dbus.RequestNameReplyPrimaryOwner {
		return fmt.Errorf("own %s: %s: another ndproxy runs", Name, reply)
	}
	return nil
}

// Backoff between connection attempts: the bus may start after ndproxy, or
// restart under it.
const (
	firstRetry = time.Second
	maxRetry   = 30 * time.Second
)

// Run serves h on the bus at addr until ctx is done, connecting again
// whenever the connection is lost or cannot be made. The first failure in a
// row is logged as a warning, the rest at debug level.
func Run(ctx context.Context, addr string, h control.Handler, log *slog.Logger) {
	wait := firstRetry
	failures := 0
	for {
		conn, err := dbus.Connect(addr, dbus.WithContext(ctx))
		if err == nil {
			if err = Serve(conn, h); err != nil {
				conn.Close()
			}
		}
		if err == nil {
			log.Info("serving status and reload on D-Bus", "name", Name)
			wait, failures = firstRetry, 0
			<-conn.Context().Done()
			if ctx.Err() != nil {
				return
			}
			log.Warn("D-Bus connection lost, connecting again", "address", addr)
		} else if ctx.Err() == nil {
			failures++
			level := slog.LevelWarn
			if failures > 1 {
				level = slog.LevelDebug
			}
			log.Log(ctx, level, "D-Bus not available, retrying", "address", addr, "err", err, "in", wait)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, maxRetry)
	}
}
