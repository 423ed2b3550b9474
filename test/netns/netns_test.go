package netns_test

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ndproxy/ndproxy/test/netns"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if left := netns.Leftovers(); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: namespaces left behind: %v\n", left)
		code = 1
	}
	os.Exit(code)
}

// TestHarnessLab exercises every part of the harness on a small lab, then
// checks that the lab's cleanup left no namespace and no process behind.
func TestHarnessLab(t *testing.T) {
	var id string
	var pids []int
	t.Run("lab", func(t *testing.T) {
		lab := netns.New(t)
		id = lab.ID()
		lan := lab.Switch("lan")
		r := lab.Router("r")
		a := lab.Host("a")
		b := lab.Host("b")
		lan.Attach(r, "eth0")
		lan.Attach(a, "eth0")
		lab.Link(a, "wlan0", b, "eth0")

		if got := a.MustSysctl("net.ipv6.conf.eth0.forwarding"); got != "0" {
			t.Errorf("host a forwards: forwarding=%s", got)
		}
		if got := r.MustSysctl("net.ipv6.conf.eth0.forwarding"); got != "1" {
			t.Errorf("router r does not forward: forwarding=%s", got)
		}

		// SLAAC from radvd across the switch.
		lanPrefix := netip.MustParsePrefix("2001:db8:1::/64")
		r.AddAddr("eth0", netip.MustParsePrefix("2001:db8:1::1/64"))
		radvd := r.Radvd("eth0", "prefix "+lanPrefix.String()+" { AdvAutonomous on; };")
		pids = append(pids, radvd.Pid())
		start := time.Now()
		addr, err := a.WaitAddr("eth0", lanPrefix, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("SLAAC address %v after %v", addr, time.Since(start).Round(time.Millisecond))
		if err := netns.Poll(5*time.Second, func() error { return r.Ping(addr) }); err != nil {
			t.Errorf("router cannot ping the host's SLAAC address: %v", err)
		}
		if err := a.Ping(netip.MustParseAddr("2001:db8:1::1")); err != nil {
			t.Errorf("host cannot ping the router: %v", err)
		}
		if err := a.Ping(r.LinkLocal("eth0").WithZone("eth0")); err != nil {
			t.Errorf("host cannot ping the router's link-local address: %v", err)
		}

		// Point to point link, static addresses, TCP and NDP probes.
		a.AddAddr("wlan0", netip.MustParsePrefix("fd00:1::1/64"), "nodad")
		b.AddAddr("eth0", netip.MustParsePrefix("fd00:1::2/64"), "nodad")
		echo := b.ServeTCP(7777)
		pids = append(pids, echo.Pid())
		if name, err := a.TCP(netip.MustParseAddr("fd00:1::2"), 7777); err != nil || name != "b" {
			t.Errorf("TCP a -> b = %q, %v; want answer from b", name, err)
		}
		if _, err := a.TCP(netip.MustParseAddr("fd00:1::2"), 7778); err == nil {
			t.Errorf("TCP to a port nobody listens on succeeded")
		}
		mac, err := a.Resolve(netip.MustParseAddr("fd00:1::2"), "wlan0")
		if want := b.MAC("eth0"); err != nil || mac.String() != want.String() {
			t.Errorf("Resolve fd00:1::2 = %v, %v; want %v", mac, err, want)
		}
		if mac, err := a.Resolve(netip.MustParseAddr("fd00:1::99"), "wlan0"); !errors.Is(err, netns.ErrNoAnswer) {
			t.Errorf("Resolve of an absent address = %v, %v; want ErrNoAnswer", mac, err)
		}
		// Resolve sees answers of a proxy (source is not the target).
		r.SetSysctl("net.ipv6.conf.eth0.proxy_ndp=1", "net.ipv6.neigh.eth0.proxy_delay=0")
		r.MustIP("-6", "neigh", "add", "proxy", "2001:db8:1::99", "dev", "eth0")
		mac, err = a.Resolve(netip.MustParseAddr("2001:db8:1::99"), "eth0")
		if want := r.MAC("eth0"); err != nil || mac.String() != want.String() {
			t.Errorf("Resolve of a proxied address = %v, %v; want the proxy %v", mac, err, want)
		}
		if err := b.Ping(netip.MustParseAddr("2001:db8:1::1")); err == nil {
			t.Errorf("b reaches the LAN through a host that must not forward")
		}

		// A process that exits on its own, a long-running one, and a stray
		// that the harness never saw: cleanup must end the last two.
		p := b.Start("true", "true")
		if err := p.Wait(5 * time.Second); err != nil {
			t.Errorf("true: %v", err)
		}
		sleeper := b.Start("sleep", "sleep", "600")
		pids = append(pids, sleeper.Pid())
		out := b.MustRun("sh", "-c", "sleep 600 >/dev/null 2>&1 & echo $!")
		stray, err := strconv.Atoi(out)
		if err != nil {
			t.Fatalf("stray pid %q: %v", out, err)
		}
		pids = append(pids, stray)
	})

	if id == "" {
		return // skipped: not root
	}
	for _, ns := range netns.Leftovers() {
		if strings.HasPrefix(ns, id+"-") {
			t.Errorf("namespace %s is left after cleanup", ns)
		}
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("process %d is alive after cleanup", pid)
		}
	}
}

// TestHarnessCleanupOnSkip stops a test half-way (Skip ends it the way Fatal
// does) and checks that cleanup still removes everything.
func TestHarnessCleanupOnSkip(t *testing.T) {
	var id string
	var pid int
	t.Run("lab", func(t *testing.T) {
		lab := netns.New(t)
		id = lab.ID()
		a, b := lab.Host("a"), lab.Host("b")
		lab.Link(a, "eth0", b, "eth0")
		pid = b.Start("sleep", "sleep", "600").Pid()
		t.Skip("ending the test early on purpose")
	})
	if id == "" {
		return
	}
	for _, ns := range netns.Leftovers() {
		if strings.HasPrefix(ns, id+"-") {
			t.Errorf("namespace %s is left after cleanup", ns)
		}
	}
	if alive(pid) {
		t.Errorf("process %d is alive after cleanup", pid)
	}
}

// TestHarnessLinkNames checks that link names live only inside their
// namespaces: two labs use the same names at once, and the caller's
// namespace never sees them.
func TestHarnessLinkNames(t *testing.T) {
	before, _ := exec.Command("ip", "-br", "link").Output()
	for i := 0; i < 2; i++ {
		lab := netns.New(t)
		a, b := lab.Host("a"), lab.Host("b")
		lab.Link(a, "wlan0", b, "eth0")
		sw := lab.Switch("sw")
		sw.Attach(a, "eth1")
		sw.Attach(b, "eth1")
		a.AddAddr("eth1", netip.MustParsePrefix("fd00:2::1/64"))
		b.AddAddr("eth1", netip.MustParsePrefix("fd00:2::2/64"))
		if err := netns.Poll(3*time.Second, func() error { return a.Ping(netip.MustParseAddr("fd00:2::2")) }); err != nil {
			t.Errorf("ping across the switch: %v", err)
		}
	}
	after, _ := exec.Command("ip", "-br", "link").Output()
	if string(before) != string(after) {
		t.Errorf("the test's own namespace changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// alive reports whether pid is a live process (zombies count as dead: an
// init that does not reap is not the harness's fault).
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// pid (comm) S ...: the state follows the last ')'.
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}
