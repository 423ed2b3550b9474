package test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/ndproxy/ndproxy/internal/control"
	"github.com/ndproxy/ndproxy/internal/dbusapi"
	"github.com/ndproxy/ndproxy/internal/dbusapi/dbustest"
	"github.com/ndproxy/ndproxy/test/netns"
)

// notifySocket is systemd's end of $NOTIFY_SOCKET.
type notifySocket struct {
	t    *testing.T
	path string
	c    *net.UnixConn
}

func listenNotify(t *testing.T, dir string) *notifySocket {
	t.Helper()
	n := &notifySocket{t: t, path: filepath.Join(dir, "notify")}
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: n.path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	n.c = c
	return n
}

// next waits for the next notification and checks that it starts with want.
func (n *notifySocket) next(want string, timeout time.Duration) string {
	n.t.Helper()
	buf := make([]byte, 4096)
	n.c.SetReadDeadline(time.Now().Add(timeout))
	k, err := n.c.Read(buf)
	if err != nil {
		n.t.Fatalf("no %s from ndproxy: %v", want, err)
	}
	got := string(buf[:k])
	if !strings.HasPrefix(got, want) {
		n.t.Fatalf("ndproxy notified %q, want %s", got, want)
	}
	return got
}

// TestDBusAndNotify runs ndproxy as systemd would (Type=notify) on a host
// with a system bus: READY=1 once `ndproxy status` works, the same status
// over D-Bus, reloads over D-Bus with their errors and notifications, and
// STOPPING=1 on SIGTERM.
func TestDBusAndNotify(t *testing.T) {
	t.Parallel()
	c := newCheckLab(t, netip.MustParsePrefix("2001:db8:db:1::/64"))
	bus := dbustest.Start(t)
	notify := listenNotify(t, c.lab.Dir())

	start := time.Now()
	p := c.gw.StartEnv("ndproxy", []string{
		"DBUS_SYSTEM_BUS_ADDRESS=" + bus.Address(),
		"NOTIFY_SOCKET=" + notify.path,
	}, ndproxyBin(t), "run", "-c", c.conf)
	ready := notify.next("READY=1", 10*time.Second)
	t.Logf("%q after %v", ready, time.Since(start).Round(time.Millisecond))
	out, err := c.gw.Run(ndproxyBin(t), "status", "--json", "-s", c.sock)
	if err != nil {
		t.Fatalf("READY=1 was sent, but ndproxy status fails: %v", err)
	}
	var viaSocket control.Status
	if err := json.Unmarshal([]byte(out), &viaSocket); err != nil {
		t.Fatal(err)
	}

	conn, err := dbus.Connect(bus.Address())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	obj := conn.Object(dbusapi.Name, dbusapi.Path)
	var js string
	if err := netns.Poll(5*time.Second, func() error {
		if p.Exited() {
			return fmt.Errorf("ndproxy exited: %v: %w", p.Wait(0), netns.ErrGiveUp)
		}
		return obj.Call(dbusapi.Interface+".Status", 0).Store(&js)
	}); err != nil {
		t.Fatalf("Status over D-Bus: %v", err)
	}
	var viaBus control.Status
	if err := json.Unmarshal([]byte(js), &viaBus); err != nil {
		t.Fatalf("Status over D-Bus is not JSON: %v\n%s", err, js)
	}
	if viaBus.Config != viaSocket.Config || len(viaBus.Proxies) != 1 || viaBus.Proxies[0].Name != "island" ||
		viaBus.Proxies[0].Upstream != viaSocket.Proxies[0].Upstream {
		t.Errorf("Status over D-Bus:\n%s\nis not what ndproxy status says:\n%s", js, out)
	}

	t.Run("reload with a bad file", func(t *testing.T) {
		c.config(t, strings.Replace(fmt.Sprintf(checkIsland, subnet(c.lan, 76, 4)), "config proxy 'island'", "config proxy 'island'\n\toption verify 'prob'", 1))
		err := obj.Call(dbusapi.Interface+".Reload", 0).Err
		var de dbus.Error
		if !errors.As(err, &de) || de.Name != dbusapi.ErrInvalidConfig || !strings.Contains(de.Error(), "ndproxy.island.verify") {
			t.Errorf("Reload: %v, want %s naming ndproxy.island.verify", err, dbusapi.ErrInvalidConfig)
		}
		notify.next("RELOADING=1", 5*time.Second)
		notify.next("READY=1", 5*time.Second)
		if p.Exited() {
			t.Fatalf("ndproxy exited after a bad reload: %v", p.Wait(0))
		}
	})
	t.Run("reload with a good file", func(t *testing.T) {
		c.config(t, fmt.Sprintf(checkIsland, subnet(c.lan, 72, 1)))
		if err := obj.Call(dbusapi.Interface+".Reload", 0).Err; err != nil {
			t.Errorf("Reload: %v", err)
		}
		notify.next("RELOADING=1", 5*time.Second)
		notify.next("READY=1", 5*time.Second)
		if err := netns.Poll(5*time.Second, func() error {
			var js string
			if err := obj.Call(dbusapi.Interface+".Status", 0).Store(&js); err != nil {
				return err
			}
			if want := subnet(c.lan, 72, 1).String(); !strings.Contains(js, want) {
				return fmt.Errorf("no %s in the status after the reload: %s", want, js)
			}
			return nil
		}); err != nil {
			t.Error(err)
		}
	})

	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(5 * time.Second); err != nil {
		t.Errorf("ndproxy did not exit cleanly: %v", err)
	}
	// STOPPING=1 goes out when SIGTERM arrives, from a goroutine that
	// races the daemon's exit (internal/daemon/dbus.go): usually first.
	buf := make([]byte, 64)
	notify.c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if k, err := notify.c.Read(buf); err != nil {
		t.Logf("no STOPPING=1 before the exit: %v", err)
	} else if got := string(buf[:k]); got != "STOPPING=1" {
		t.Errorf("ndproxy notified %q on SIGTERM, want STOPPING=1", got)
	}
}
