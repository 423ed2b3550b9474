// Package dbustest runs a real dbus-daemon for tests: a private system bus
// with the system bus's default-deny policy and ndproxy's own policy file,
// so that tests see what a Debian host's bus allows.
package dbustest

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Bus is a running dbus-daemon.
type Bus struct {
	t      testing.TB
	dir    string
	conf   string
	socket string
	log    string // dbus-daemon's stderr: what it rejected and why
	cmd    *exec.Cmd
}

// PolicyFile is ndproxy's bus policy in this source tree.
func PolicyFile() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "../../../files/dbus/org.ndproxy.NDProxy1.conf")
}

// Start starts a dbus-daemon listening on a socket of its own, or skips t
// when dbus-daemon is not installed. The bus is stopped in t.Cleanup.
// policies are more policy files to include, after ndproxy's.
func Start(t testing.TB, policies ...string) *Bus {
	t.Helper()
	if _, err := exec.LookPath("dbus-daemon"); err != nil {
		t.Skip("dbus-daemon is not installed (apt-get install dbus-daemon)")
	}
	dir, err := os.MkdirTemp("", "ndproxy-dbus-")
	if err != nil {
		t.Fatal(err)
	}
	// Clients of other users (nobody) must reach the socket.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b := &Bus{t: t, dir: dir, conf: filepath.Join(dir, "bus.conf"), socket: filepath.Join(dir, "system_bus_socket"), log: filepath.Join(dir, "log")}
	policy, err := filepath.Abs(PolicyFile())
	if err != nil {
		t.Fatal(err)
	}
	// The default context is the system bus's (dbus-daemon's system.conf):
	// anyone may connect, nobody may own a name or call a method unless a
	// policy file opens a hole.
	conf := fmt.Sprintf(`<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <listen>unix:path=%s</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
  </policy>
  <include>%s</include>
%s</busconfig>
`, b.socket, policy, includes(policies))
	if err := os.WriteFile(b.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		b.Stop()
		if log, err := os.ReadFile(b.log); t.Failed() && err == nil && len(log) > 0 {
			t.Logf("dbus-daemon's log:\n%s", log)
		}
		os.RemoveAll(dir)
	})
	b.start()
	return b
}

func includes(files []string) string {
	var b strings.Builder
	for _, f := range files {
		fmt.Fprintf(&b, "  <include>%s</include>\n", f)
	}
	return b.String()
}

// Address is the bus address for clients and for $DBUS_SYSTEM_BUS_ADDRESS.
func (b *Bus) Address() string { return "unix:path=" + b.socket }

func (b *Bus) start() {
	b.t.Helper()
	cmd := exec.Command("dbus-daemon", "--config-file="+b.conf, "--nofork", "--nopidfile", "--print-address")
	log, err := os.OpenFile(b.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		b.t.Fatal(err)
	}
	defer log.Close()
	cmd.Stderr = log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.t.Fatalf("dbus-daemon: %v", err)
	}
	b.cmd = cmd
	// It prints its address once it listens.
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(out).ReadString('\n')
		line <- s
	}()
	select {
	case s := <-line:
		if !strings.HasPrefix(s, "unix:path="+b.socket) {
			b.Stop()
			b.t.Fatalf("dbus-daemon printed %q, want its address", s)
		}
	case <-time.After(10 * time.Second):
		b.Stop()
		b.t.Fatal("dbus-daemon did not start in 10s")
	}
}

// Stop stops the bus; its clients lose their connections.
func (b *Bus) Stop() {
	if b.cmd == nil {
		return
	}
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = b.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = b.cmd.Process.Kill()
		<-done
	}
	b.cmd = nil
}

// Restart stops the bus and starts a new one at the same address, as a
// restart of dbus.service does.
func (b *Bus) Restart() {
	b.t.Helper()
	b.Stop()
	os.Remove(b.socket)
	b.start()
}
