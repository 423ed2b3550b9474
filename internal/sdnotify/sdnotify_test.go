package sdnotify

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// listen opens a unixgram socket as systemd does for $NOTIFY_SOCKET.
func listen(t *testing.T, name string) *net.UnixConn {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func receive(t *testing.T, c *net.UnixConn) string {
	t.Helper()
	buf := make([]byte, 4096)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("no notification: %v", err)
	}
	return string(buf[:n])
}

func TestNotify(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify")
	abstract := fmt.Sprintf("@ndproxy-test-%d", os.Getpid())
	for _, socket := range []string{path, abstract} {
		t.Run(socket, func(t *testing.T) {
			c := listen(t, socket)
			t.Setenv("NOTIFY_SOCKET", socket)
			n := NotifierFromEnv()
			if !n.Enabled() {
				t.Fatal("not enabled with $NOTIFY_SOCKET set")
			}
			for _, tc := range []struct {
				state []string
				want  string
			}{
				{[]string{Ready, "STATUS=running"}, "READY=1\nSTATUS=running"},
				{[]string{Stopping}, "STOPPING=1"},
			} {
				if err := n.Notify(tc.state...); err != nil {
					t.Fatal(err)
				}
				if got := receive(t, c); got != tc.want {
					t.Errorf("got %q, want %q", got, tc.want)
				}
			}
			if err := n.Notify(Reloading()); err != nil {
				t.Fatal(err)
			}
			if got := receive(t, c); !regexp.MustCompile(`^RELOADING=1\nMONOTONIC_USEC=[1-9][0-9]*$`).MatchString(got) {
				t.Errorf("got %q, want RELOADING=1 and MONOTONIC_USEC", got)
			}
		})
	}
}

func TestNotifyWithoutSystemd(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	n := NotifierFromEnv()
	if n.Enabled() {
		t.Error("enabled without $NOTIFY_SOCKET")
	}
	if err := n.Notify(Ready); err != nil {
		t.Errorf("Notify without a socket: %v", err)
	}
	err := NewNotifier(filepath.Join(t.TempDir(), "gone")).Notify(Ready)
	if err == nil || !strings.Contains(err.Error(), "sd_notify") {
		t.Errorf("Notify to a missing socket: %v, want an sd_notify error", err)
	}
}
