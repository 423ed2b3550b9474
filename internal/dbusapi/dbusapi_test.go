package dbusapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/google/go-cmp/cmp"
	"github.com/ndproxy/ndproxy/internal/config"
	"github.com/ndproxy/ndproxy/internal/control"
	"github.com/ndproxy/ndproxy/internal/dbusapi/dbustest"
)

// clientEnv makes the test binary a one-call D-Bus client ("ADDRESS METHOD"),
// for calls as another user.
const clientEnv = "NDPROXY_TEST_DBUS_CLIENT"

func TestMain(m *testing.M) {
	if v := os.Getenv(clientEnv); v != "" {
		addr, method, _ := strings.Cut(v, " ")
		fmt.Print(clientCall(addr, method))
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// clientCall calls method on ndproxy's object, or tries to own the name
// (method "own"), and says what happened: "ok", or the D-Bus error's name.
func clientCall(addr, method string) string {
	conn, err := dbus.Connect(addr)
	if err != nil {
		return "connect: " + err.Error()
	}
	defer conn.Close()
	if method == "own" {
		_, err = conn.RequestName(Name, dbus.NameFlagDoNotQueue)
	} else {
		err = conn.Object(Name, Path).Call(Interface+"."+method, 0).Err
	}
	var de dbus.Error
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &de):
		return de.Name
	}
	return err.Error()
}

// fake is a daemon: a fixed status, and Reload returns reloadErr.
type fake struct {
	mu        sync.Mutex
	reloadErr error
	reloads   int
}

var fakeStatus = control.Status{
	Config: "/etc/config/ndproxy",
	Proxies: []control.ProxyStatus{{
		Name: "island", Upstream: "wlan0", Downstream: []string{"eth0"},
		Prefixes: []string{"2001:db8:abc:123:40::/76"}, Verify: "probe", Route: "host", State: "running",
		Targets: []control.TargetStatus{{Address: "2001:db8:abc:123:41::1", State: "valid", Interface: "eth0", Learned: "probe", AgeSeconds: 12.5}},
	}},
	Routes:   []string{"2001:db8:abc:123:41::1/128 dev eth0 metric 64"},
	Warnings: []string{},
}

func (f *fake) Status() control.Status { return fakeStatus }

func (f *fake) Reload() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reloads++
	return f.reloadErr
}

func (f *fake) failWith(err error) {
	f.mu.Lock()
	f.reloadErr = err
	f.mu.Unlock()
}

func connect(t *testing.T, bus *dbustest.Bus) *dbus.Conn {
	t.Helper()
	conn, err := dbus.Connect(bus.Address())
	if err != nil {
		t.Fatalf("connect to the test bus: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: the bus policy lets only root own " + Name)
	}
}

func TestStatusAndReload(t *testing.T) {
	needRoot(t)
	bus := dbustest.Start(t)
	f := &fake{}
	if err := Serve(connect(t, bus), f); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	obj := connect(t, bus).Object(Name, Path)

	var js string
	if err := obj.Call(Interface+".Status", 0).Store(&js); err != nil {
		t.Fatalf("Status: %v", err)
	}
	var got control.Status
	if err := json.Unmarshal([]byte(js), &got); err != nil {
		t.Fatalf("Status is not the JSON of docs/status.md: %v\n%s", err, js)
	}
	if d := cmp.Diff(fakeStatus, got); d != "" {
		t.Errorf("Status over D-Bus (-want +got):\n%s", d)
	}

	_, badFile := config.Parse("ndproxy", []byte("config proxy 'island'\n\toption upstream 'wlan0'\n\toption verify 'prob'\n\tlist prefix '2001:db8::/64'\n"))
	if badFile == nil {
		t.Fatal("bad test: the file is valid")
	}
	for _, tc := range []struct {
		name    string
		err     error
		errName string
		msg     []string
	}{
		{"good file", nil, "", nil},
		{"bad file", badFile, ErrInvalidConfig, []string{`ndproxy.island.verify: "prob" is not one of probe, auto, static`, "the running configuration stays"}},
		{"unreadable", fmt.Errorf("read config: %w", os.ErrPermission), ErrFailed, []string{"permission denied"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.failWith(tc.err)
			err := obj.Call(Interface+".Reload", 0).Err
			var de dbus.Error
			switch {
			case tc.errName == "" && err != nil:
				t.Errorf("Reload: %v", err)
			case tc.errName == "":
			case !errors.As(err, &de):
				t.Errorf("Reload: got %v, want the D-Bus error %s", err, tc.errName)
			case de.Name != tc.errName:
				t.Errorf("Reload: error %s (%v), want %s", de.Name, de, tc.errName)
			default:
				for _, m := range tc.msg {
					if !strings.Contains(de.Error(), m) {
						t.Errorf("Reload's error %q does not say %q", de.Error(), m)
					}
				}
			}
		})
	}
	f.mu.Lock()
	if f.reloads != 3 {
		t.Errorf("the daemon reloaded %d times, want 3", f.reloads)
	}
	f.mu.Unlock()

	var xml string
	if err := obj.Call("org.freedesktop.DBus.Introspectable.Introspect", 0).Store(&xml); err != nil {
		t.Fatalf("Introspect: %v", err)
	}
	for _, want := range []string{`<interface name="org.ndproxy.NDProxy1">`, `<method name="Status">`, `<arg name="status" type="s" direction="out">`, `<method name="Reload">`} {
		if !strings.Contains(xml, want) {
			t.Errorf("the introspection data has no %s:\n%s", want, xml)
		}
	}
}

// TestPolicy runs clients as root and as nobody against the policy file in
// files/dbus: root owns the name and calls everything, others call Status.
func TestPolicy(t *testing.T) {
	needRoot(t)
	bus := dbustest.Start(t)
	if err := Serve(connect(t, bus), &fake{}); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	// The test binary, where nobody may run it.
	dir, err := os.MkdirTemp("", "ndproxy-dbus-client-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "client")
	if err := copyFile(os.Args[0], bin); err != nil {
		t.Fatal(err)
	}
	call := func(uid uint32, method string) string {
		cmd := exec.Command(bin)
		cmd.Env = append(os.Environ(), clientEnv+"="+bus.Address()+" "+method)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("client as uid %d: %v\n%s", uid, err, out)
		}
		return string(out)
	}
	const denied = "org.freedesktop.DBus.Error.AccessDenied"
	for _, tc := range []struct {
		uid    uint32
		method string
		want   string
	}{
		{0, "Status", "ok"},
		{0, "Reload", "ok"},
		{65534, "Status", "ok"},
		{65534, "Reload", denied},
		{65534, "own", denied},
		{0, "own", "ok"}, // policy allows it; the name is taken, which DoNotQueue reports as a reply, not an error
	} {
		if got := call(tc.uid, tc.method); got != tc.want {
			t.Errorf("uid %d, %s: %s, want %s", tc.uid, tc.method, got, tc.want)
		}
	}
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func TestSecondInstance(t *testing.T) {
	needRoot(t)
	bus := dbustest.Start(t)
	if err := Serve(connect(t, bus), &fake{}); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	err := Serve(connect(t, bus), &fake{})
	if err == nil || !strings.Contains(err.Error(), "another ndproxy runs") {
		t.Errorf("a second Serve: %v, want an error saying another ndproxy runs", err)
	}
}

// owned waits until the name has an owner (or has none, with want false).
func owned(t *testing.T, bus *dbustest.Bus, want bool, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var has bool
		conn, err := dbus.Connect(bus.Address())
		if err == nil {
			err = conn.BusObject().Call("org.freedesktop.DBus.NameHasOwner", 0, Name).Store(&has)
			conn.Close()
		}
		if err == nil && has == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s has an owner: %v (%v), want %v", timeout, Name, has, err, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRunReconnects: Run waits for a bus that is not there yet, serves, and
// serves again after the bus restarts; it returns when its context ends.
func TestRunReconnects(t *testing.T) {
	needRoot(t)
	bus := dbustest.Start(t)
	bus.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		Run(ctx, bus.Address(), &fake{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after its context ended")
		}
	}()
	time.Sleep(300 * time.Millisecond)
	bus.Restart()
	owned(t, bus, true, 5*time.Second)
	bus.Restart()
	owned(t, bus, false, time.Second) // the new bus starts empty
	owned(t, bus, true, 5*time.Second)
	cancel()
	<-done
	owned(t, bus, false, 5*time.Second)
}

func TestSystemBusAddress(t *testing.T) {
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/tmp/x")
	if got := SystemBusAddress(); got != "unix:path=/tmp/x" {
		t.Errorf("SystemBusAddress() = %q with $DBUS_SYSTEM_BUS_ADDRESS set", got)
	}
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", "")
	want := ""
	if _, err := os.Stat(SystemSocket); err == nil {
		want = "unix:path=" + SystemSocket
	}
	if got := SystemBusAddress(); got != want {
		t.Errorf("SystemBusAddress() = %q, want %q", got, want)
	}
}
