// Package netns builds throw-away IPv6 labs out of Linux network namespaces for
// tests: hosts, veth links, bridges acting as switches, background daemons, and
// the probes (ping, TCP, Neighbor Solicitation) that judge what hosts can do.
//
// Every namespace is named ndp<pid>-<lab>-<host>, so labs of concurrent test
// binaries and of parallel tests never collide, and everything a lab creates
// is removed in t.Cleanup, in reverse order, also when the test fails:
// processes first (SIGTERM, then SIGKILL, then any process still inside a lab
// namespace), then the namespaces, which takes their links with them.
//
// Nothing here touches the namespace the test runs in: links are created
// directly inside lab namespaces, never in the caller's.
//
//	lab := netns.New(t)             // skips unless root
//	lan := lab.Switch("lan")        // a namespace that is only a bridge
//	r, a := lab.Router("r"), lab.Host("a")
//	lan.Attach(r, "eth0")           // veth: eth0 in r, a port of the bridge
//	lan.Attach(a, "eth0")
//	r.AddAddr("eth0", netip.MustParsePrefix("2001:db8:1::1/64"))
//	r.Radvd("eth0", "prefix 2001:db8:1::/64 {};")
//	addr, err := a.WaitAddr("eth0", netip.MustParsePrefix("2001:db8:1::/64"), 10*time.Second)
//	a.ServeTCP(8022)                // echo server: the test binary itself
//	name, err := r.TCP(addr, 8022)  // "a"
//	err = r.Ping(addr)
//	mac, err := r.Resolve(addr, "eth0") // the kernel's own neighbour discovery
//
// Hosts come up with duplicate address detection off (accept_dad=0 on all and
// default): DAD only delays every address by a second after each link-up (and
// again after every down/up the tests do on purpose), labs have no duplicates
// to detect, and a test that wants DAD can turn it back on per link with
// SetSysctl. Hosts do not forward; routers do.
package netns

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// CommandTimeout bounds every short command the harness runs (ip, sysctl,
// ping, ndisc6, ...), so a hung tool fails the test instead of the whole run.
const CommandTimeout = 30 * time.Second

// labSeq numbers the labs of this process; with the pid it makes names unique.
var labSeq atomic.Int64

// Prefix is the start of the name of every namespace this process creates.
func Prefix() string { return fmt.Sprintf("ndp%d-", os.Getpid()) }

// Lab is one test's set of namespaces. Methods of the lab and its hosts that
// return no error call Fatal on the test that created the lab: use them from
// that test's goroutine or its subtests (from a subtest, a broken lab ends the
// whole test; Go reports it as "subtest may have called FailNow on a parent
// test"). Methods that return errors can be used anywhere.
type Lab struct {
	t   testing.TB
	id  string // ndp<pid>-<n>
	dir string // logs and generated files

	mu    sync.Mutex // protects the fields below
	hosts []*Host
	procs []*Proc
	seq   int // names of per-lab links and files
}

// New creates an empty lab for t, or skips t with -short or when network
// namespaces cannot be used (not root, or no ip netns).
func New(t testing.TB) *Lab {
	t.Helper()
	if testing.Short() {
		t.Skip("network-namespace lab: skipped with -short")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces")
	}
	if out, err := exec.Command("ip", "netns", "list").CombinedOutput(); err != nil {
		t.Skipf("needs root for network namespaces: ip netns list: %v: %s", err, out)
	}
	l := &Lab{
		t:   t,
		id:  fmt.Sprintf("%s%d", Prefix(), labSeq.Add(1)),
		dir: t.TempDir(), // registered before our cleanup, so removed after it
	}
	t.Cleanup(l.close)
	return l
}

// ID is the lab's unique name, ndp<pid>-<n>; every namespace name starts with
// ID()+"-". Use it to make other per-lab names unique (socket paths).
func (l *Lab) ID() string { return l.id }

// Dir is a directory for the lab's files; it outlives every process of the lab.
func (l *Lab) Dir() string { return l.dir }

func (l *Lab) next() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq++
	return l.seq
}

// Host creates a namespace that does not forward.
func (l *Lab) Host(name string) *Host {
	l.t.Helper()
	return l.newHost(name, "net.ipv6.conf.all.forwarding=0")
}

// Router creates a namespace that forwards IPv6 (all.forwarding=1).
func (l *Lab) Router(name string) *Host {
	l.t.Helper()
	return l.newHost(name, "net.ipv6.conf.all.forwarding=1")
}

func (l *Lab) newHost(name string, sysctls ...string) *Host {
	l.t.Helper()
	h := &Host{lab: l, Name: name, NS: l.id + "-" + name}
	if out, err := run("ip", "netns", "add", h.NS); err != nil {
		l.t.Fatalf("netns: %v: %s", err, out) // also when the lab has this host
	}
	l.mu.Lock()
	l.hosts = append(l.hosts, h)
	l.mu.Unlock()
	h.MustIP("link", "set", "lo", "up")
	h.SetSysctl(append([]string{
		"net.ipv6.conf.all.accept_dad=0",
		"net.ipv6.conf.default.accept_dad=0",
		// Solicit at once and every second until a router answers: radvd
		// may start after the host, and its periodic RAs are seconds apart.
		"net.ipv6.conf.default.router_solicitation_delay=0",
		"net.ipv6.conf.default.router_solicitation_interval=1",
	}, sysctls...)...)
	return h
}

// close runs in t.Cleanup: dump state when the test failed, stop processes,
// delete namespaces. Errors are reported, never fatal, so every step runs.
func (l *Lab) close() {
	l.mu.Lock()
	hosts, procs := l.hosts, l.procs
	l.mu.Unlock()

	if l.t.Failed() {
		for _, h := range hosts {
			if !h.isSwitch {
				l.t.Logf("netns: state of %s (%s):\n%s", h.Name, h.NS, h.state())
			}
		}
	}
	for i := len(procs) - 1; i >= 0; i-- {
		procs[i].kill()
	}
	if l.t.Failed() {
		for _, p := range procs {
			l.t.Logf("netns: last lines of %s (%s, %s):\n%s", p.name, p.path, p.status(), tail(p.Log(), 40))
		}
	}
	for i := len(hosts) - 1; i >= 0; i-- {
		hosts[i].destroy()
	}
}

// Leftovers lists namespaces of this process that still exist; after all labs
// are cleaned up it must be empty.
func Leftovers() []string {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return nil
	}
	var left []string
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		if strings.HasPrefix(name, Prefix()) {
			left = append(left, name)
		}
	}
	return left
}

// ErrGiveUp, wrapped in an error that Poll's f returns, ends Poll at once:
// waiting longer cannot help (the daemon under test has exited).
var ErrGiveUp = errors.New("giving up")

// Poll calls f every 100ms until it returns nil, an error wrapping ErrGiveUp,
// or timeout has passed, and returns the last error. f's own run time counts
// against the timeout.
func Poll(timeout time.Duration, f func() error) error {
	start := time.Now()
	for {
		err := f()
		if err == nil || errors.Is(err, ErrGiveUp) {
			return err
		}
		if time.Since(start) >= timeout {
			return fmt.Errorf("still failing after %v: %w", time.Since(start).Round(time.Millisecond), err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// run runs a short command in the caller's namespace and returns its
// combined output, trimmed.
func run(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), CommandTimeout)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	s := strings.TrimSpace(out.String())
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("timed out after %v", CommandTimeout)
		}
		return s, fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return s, nil
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("[... %d lines before]", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}
