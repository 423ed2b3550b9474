// Package sdnotify tells systemd about the daemon's state (Type=notify),
// as sd_notify(3) does, without libsystemd.
package sdnotify

import (
	"fmt"
	"net"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// Notifier tells systemd about the daemon's state, as sd_notify(3) does: one
// datagram of newline-separated KEY=value assignments to the unix socket in
// $NOTIFY_SOCKET, which systemd sets for services of Type=notify. A name
// starting with "@" is in the abstract namespace (Go's net package maps it).
type Notifier struct {
	socket string
}

// NotifierFromEnv returns the Notifier for $NOTIFY_SOCKET; it does nothing
// when the variable is not set (not started by systemd).
func NotifierFromEnv() *Notifier { return &Notifier{socket: os.Getenv("NOTIFY_SOCKET")} }

// NewNotifier returns a Notifier that writes to socket.
func NewNotifier(socket string) *Notifier { return &Notifier{socket: socket} }

// Enabled reports whether there is a socket to notify.
func (n *Notifier) Enabled() bool { return n.socket != "" }

// The states ndproxy reports.
const (
	// Ready: the daemon serves its control socket (`ndproxy status`
	// works), and again after a reload.
	Ready = "READY=1"
	// Stopping: the daemon is removing its routes and restoring sysctls.
	Stopping = "STOPPING=1"
)

// Reloading is the state for the start of a reload; Ready follows when it is
// done. MONOTONIC_USEC lets systemd (Type=notify-reload, v253) tell this
// reload from an older one.
func Reloading() string {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return "RELOADING=1"
	}
	return fmt.Sprintf("RELOADING=1\nMONOTONIC_USEC=%d", ts.Nano()/1000)
}

// Notify sends the assignments in state (Ready, Stopping, Reloading(),
// "STATUS=..."). Without a socket it does nothing.
func (n *Notifier) Notify(state ...string) error {
	if n.socket == "" {
		return nil
	}
	if strings.HasPrefix(n.socket, "vsock:") {
		// systemd 254 also passes vsock addresses, for VMs; not ours.
		return fmt.Errorf("sd_notify: %s: unsupported socket", n.socket)
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: n.socket, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(strings.Join(state, "\n"))); err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	return nil
}
