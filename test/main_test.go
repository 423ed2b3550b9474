package test

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ndproxy/ndproxy/test/netns"
)

// echoPort is where every host that should be reachable runs a TCP echo
// server (netns.Host.ServeTCP).
const echoPort = 8022

// binDir holds the ndproxy binary built for this run.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ndproxy-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	if left := netns.Leftovers(); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: namespaces left behind: %v\n", left)
		code = 1
	}
	os.Exit(code)
}

var build struct {
	once sync.Once
	path string
	err  error
}

// ndproxyBin returns the binary under test: $NDPROXY_BIN, or ./cmd/ndproxy
// built once per run.
func ndproxyBin(t testing.TB) string {
	t.Helper()
	build.once.Do(func() {
		if p := os.Getenv("NDPROXY_BIN"); p != "" {
			build.path, build.err = filepath.Abs(p)
			return
		}
		gomod, err := exec.Command("go", "env", "GOMOD").Output()
		if err != nil {
			build.err = fmt.Errorf("go env GOMOD: %w", err)
			return
		}
		build.path = filepath.Join(binDir, "ndproxy")
		cmd := exec.Command("go", "build", "-o", build.path, "./cmd/ndproxy")
		cmd.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
		if out, err := cmd.CombinedOutput(); err != nil {
			build.err = fmt.Errorf("go build ./cmd/ndproxy: %w\n%s", err, out)
		}
	})
	if build.err != nil {
		t.Fatal(build.err)
	}
	return build.path
}

// daemon is ndproxy running on one host of a lab, with its own config file
// and control socket.
type daemon struct {
	t    *testing.T
	host *netns.Host
	bin  string
	conf string
	sock string
	proc *netns.Proc // the current run; nil when stopped
}

// newDaemon writes a config of sections (the "config proxy" blocks) for
// ndproxy on h, with a global section naming a socket unique to the lab, and
// has ndproxy check it. It does not start ndproxy.
func newDaemon(t *testing.T, h *netns.Host, sections string) *daemon {
	t.Helper()
	d := &daemon{
		t:    t,
		host: h,
		bin:  ndproxyBin(t),
		// Named like /etc/config/ndproxy: UCI names the package after the
		// file, and errors name ndproxy.<section>.<option>.
		conf: filepath.Join(h.Lab().Dir(), h.Name, "ndproxy"),
		sock: "/run/ndproxy-" + h.Lab().ID() + "-" + h.Name + ".sock",
	}
	if err := os.MkdirAll(filepath.Dir(d.conf), 0o755); err != nil {
		t.Fatal(err)
	}
	d.rewrite(sections)
	t.Cleanup(func() {
		if t.Failed() && d.proc != nil && !d.proc.Exited() {
			out, err := d.host.Run(d.bin, "status", "-s", d.sock)
			t.Logf("ndproxy status on %s (%v):\n%s", h.Name, err, out)
		}
		if d.proc != nil {
			_ = d.proc.Stop(5 * time.Second)
		}
		os.Remove(d.sock)
	})
	if out, err := h.Run(d.bin, "check", "--config-only", "-c", d.conf); err != nil {
		t.Fatalf("ndproxy check rejects the test's config: %v\n%s", err, sections)
	} else {
		t.Logf("ndproxy check: %s", out)
	}
	return d
}

// rewrite replaces the proxy sections of the config file (without checking
// them: tests of bad configs use it too).
func (d *daemon) rewrite(sections string) {
	d.t.Helper()
	text := fmt.Sprintf("config global\n\toption socket '%s'\n\toption log_level 'debug'\n\n%s", d.sock, sections)
	if err := os.WriteFile(d.conf, []byte(text), 0o644); err != nil {
		d.t.Fatal(err)
	}
}

// hup asks the running ndproxy to reload its config.
func (d *daemon) hup() {
	d.t.Helper()
	if err := d.proc.Signal(syscall.SIGHUP); err != nil {
		d.t.Fatalf("SIGHUP: %v", err)
	}
}

// start runs ndproxy in the foreground inside the host.
func (d *daemon) start() {
	d.t.Helper()
	d.proc = d.host.Start("ndproxy", d.bin, "run", "-c", d.conf)
}

// stop sends SIGTERM and fails the test unless ndproxy exits 0 in time.
func (d *daemon) stop() {
	d.t.Helper()
	err := d.proc.Stop(5 * time.Second)
	if err != nil {
		d.t.Errorf("ndproxy on %s did not exit cleanly on SIGTERM: %v", d.host.Name, err)
	}
	d.proc = nil
}

// running is for Poll: it gives up at once when ndproxy has exited.
func (d *daemon) running() error {
	if d == nil || d.proc == nil || !d.proc.Exited() {
		return nil
	}
	return fmt.Errorf("ndproxy on %s exited (%v): %w", d.host.Name, d.proc.Wait(0), netns.ErrGiveUp)
}

// reach checks that from can ping addr within timeout, then exchange a line
// over TCP with the echo server there, which must be the host named want.
// d may be nil (no ndproxy in the lab).
func reach(t *testing.T, d *daemon, from *netns.Host, addr netip.Addr, want string, timeout time.Duration) bool {
	t.Helper()
	start := time.Now()
	err := netns.Poll(timeout, func() error {
		if err := d.running(); err != nil {
			return err
		}
		return from.Ping(addr)
	})
	if err != nil {
		t.Errorf("%s cannot ping %s at %v: %v", from, want, addr, err)
		return false
	}
	pinged := time.Since(start)
	var name string
	err = netns.Poll(3*time.Second, func() (err error) {
		name, err = from.TCP(addr, echoPort)
		return err
	})
	switch {
	case err != nil:
		t.Errorf("%s pings %s at %v, but TCP fails: %v", from, want, addr, err)
		return false
	case name != want:
		t.Errorf("%s: TCP to %v answered by %s, want %s", from, addr, name, want)
		return false
	}
	t.Logf("%s -> %s (%v): ping after %v, TCP after %v", from, want, addr,
		pinged.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	return true
}

// unreachable checks that from can neither ping addr nor open TCP to it.
func unreachable(t *testing.T, from *netns.Host, addr netip.Addr, what string) {
	t.Helper()
	if err := from.Ping(addr); err == nil {
		t.Errorf("%s pings %s at %v; it must not", from, what, addr)
	}
	if name, err := from.TCP(addr, echoPort); err == nil {
		t.Errorf("%s reaches %s at %v over TCP (answered by %s); it must not", from, what, addr, name)
	}
}

// ipv6Sysctls reads every net.ipv6.conf.* and net.ipv6.neigh.* sysctl of h.
func ipv6Sysctls(t *testing.T, h *netns.Host) map[string]string {
	t.Helper()
	out := h.MustRun("sysctl", "-e", "-a", "-r", `^net\.ipv6\.(conf|neigh)\.`)
	m := make(map[string]string)
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, " = "); ok {
			m[k] = v
		}
	}
	if _, ok := m["net.ipv6.conf.all.forwarding"]; !ok {
		t.Fatalf("no net.ipv6.conf.all.forwarding in sysctl -a on %s:\n%s", h.Name, out)
	}
	return m
}

// changedSysctls lists the sysctls whose values differ between two
// snapshots (keys of links that came or went are not compared).
func changedSysctls(before, after map[string]string) []string {
	var changed []string
	for k, b := range before {
		if a, ok := after[k]; ok && a != b {
			changed = append(changed, fmt.Sprintf("%s: %s before, %s now", k, b, a))
		}
	}
	slices.Sort(changed)
	return changed
}

// sleepUntil sleeps until deadline, if it is in the future.
func sleepUntil(deadline time.Time) {
	time.Sleep(time.Until(deadline))
}

// subnet returns the n-th prefix of length bits inside p
// (subnet(2001:db8::/64, 80, 0x41) = 2001:db8:0:0:41::/80).
func subnet(p netip.Prefix, bits int, n uint64) netip.Prefix {
	if bits < p.Bits() || bits > 128 || (bits-p.Bits() < 64 && n >= 1<<(bits-p.Bits())) {
		panic(fmt.Sprintf("no subnet %d of length /%d in %v", n, bits, p))
	}
	a := p.Masked().Addr().As16()
	hi, lo := binary.BigEndian.Uint64(a[:8]), binary.BigEndian.Uint64(a[8:])
	if s := 128 - bits; s >= 64 {
		hi += n << (s - 64)
	} else {
		nlo := lo + n<<s
		if nlo < lo {
			hi++
		}
		lo = nlo
		if s > 0 {
			hi += n >> (64 - s)
		}
	}
	binary.BigEndian.PutUint64(a[:8], hi)
	binary.BigEndian.PutUint64(a[8:], lo)
	return netip.PrefixFrom(netip.AddrFrom16(a), bits)
}

// host returns the address n inside p with p's prefix length
// (host(fd2f::/64, 1) = fd2f::1/64).
func host(p netip.Prefix, n uint64) netip.Prefix {
	return netip.PrefixFrom(subnet(p, 128, n).Addr(), p.Bits())
}

func TestSubnet(t *testing.T) {
	for _, tt := range []struct {
		p    string
		bits int
		n    uint64
		want string
	}{
		{"2001:db8:abc:123:40::/76", 80, 1, "2001:db8:abc:123:41::/80"},
		{"2001:db8:abc:123::/64", 80, 0x44, "2001:db8:abc:123:44::/80"},
		{"2001:db8:f00d:7:ab::/80", 96, 2, "2001:db8:f00d:7:ab:2::/96"},
		{"2001:db8::/32", 64, 0x10001, "2001:db8:1:1::/64"},
		{"2001:db8::/32", 68, 1, "2001:db8:0:0:1000::/68"},
		{"fd2f::/64", 128, 0x41, "fd2f::41/128"},
	} {
		if got := subnet(netip.MustParsePrefix(tt.p), tt.bits, tt.n); got.String() != tt.want {
			t.Errorf("subnet(%s, %d, %#x) = %v, want %s", tt.p, tt.bits, tt.n, got, tt.want)
		}
	}
	if got, want := host(netip.MustParsePrefix("fd2f::/64"), 1).String(), "fd2f::1/64"; got != want {
		t.Errorf("host(fd2f::/64, 1) = %s, want %s", got, want)
	}
}
