//go:build bench

package bench

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ndproxy/ndproxy/test/netns"
)

// subject is a proxy under test on gw: upstream wlan0, island eth0.
type subject interface {
	name() string
	// start starts the proxy and returns its pid, or 0 for the kernel.
	start(t *testing.T) int
	// stop stops it and undoes what start did.
	stop(t *testing.T)
	// status is the proxy's own account of what it did, or "".
	status() string
}

// ndproxySubject is the daemon from this tree, configured like ndppd below:
// verify by probing the island, every other option at its default.
type ndproxySubject struct {
	gw         *netns.Host
	bin, sock  string
	conf, text string
	proc       *netns.Proc
}

func newNdproxy(t *testing.T, gw *netns.Host, bin string, extra ...string) *ndproxySubject {
	s := &ndproxySubject{
		gw:   gw,
		bin:  bin,
		conf: filepath.Join(gw.Lab().Dir(), "ndproxy"),
		sock: "/run/ndproxy-" + gw.Lab().ID() + ".sock",
	}
	s.text = fmt.Sprintf(`config global
	option socket '%s'

config proxy 'bench'
	option upstream 'wlan0'
	list downstream 'eth0'
	list prefix '%v'
	option verify 'probe'
`, s.sock, proxied)
	for _, e := range extra {
		s.text += "\t" + e + "\n"
	}
	if err := os.WriteFile(s.conf, []byte(s.text), 0o644); err != nil {
		t.Fatal(err)
	}
	// check also judges the host around the file; what it says is worth
	// seeing, but only a proxy that does not answer stops the bench.
	if _, err := gw.Run(bin, "check", "-c", s.conf); err != nil {
		t.Logf("ndproxy check: %v", err)
	}
	return s
}

func (s *ndproxySubject) name() string { return "ndproxy" }

func (s *ndproxySubject) start(t *testing.T) int {
	s.proc = s.gw.Start("ndproxy", s.bin, "run", "-c", s.conf)
	return s.proc.Pid()
}

func (s *ndproxySubject) stop(t *testing.T) {
	if err := s.proc.Stop(5 * time.Second); err != nil {
		t.Errorf("ndproxy did not exit cleanly: %v\n%s", err, s.proc.Log())
	}
	os.Remove(s.sock)
}

// status returns the engine's counters that explain a flood: what it
// received, answered, probed, and ignored or dropped, by reason.
func (s *ndproxySubject) status() string {
	out, err := s.gw.Run(s.bin, "status", "--json", "-s", s.sock)
	if err != nil {
		return err.Error()
	}
	var st struct {
		Proxies []struct {
			Targets  []json.RawMessage `json:"targets"`
			Counters struct {
				Received   uint64            `json:"received"`
				Answered   uint64            `json:"answered"`
				ProbesSent uint64            `json:"probes_sent"`
				Dropped    map[string]uint64 `json:"dropped"`
				Ignored    map[string]uint64 `json:"ignored"`
			} `json:"counters"`
		} `json:"proxies"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil || len(st.Proxies) != 1 {
		return fmt.Sprintf("unreadable status (%v): %.200s", err, out)
	}
	p := st.Proxies[0]
	c := p.Counters
	return fmt.Sprintf("received %d, answered %d, probes sent %d, targets held %d, ignored %s, dropped %s",
		c.Received, c.Answered, c.ProbesSent, len(p.Targets), kv(c.Ignored), kv(c.Dropped))
}

func kv(m map[string]uint64) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for k, v := range m {
		parts = append(parts, fmt.Sprintf("%s %d", k, v))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// ndppdSubject is Debian's ndppd with the equivalent rule: answer for the
// prefix after a solicitation on the island is answered (its defaults: ttl
// 30 s, timeout 500 ms, router yes).
type ndppdSubject struct {
	gw         *netns.Host
	conf, text string
	proc       *netns.Proc
}

func newNdppd(t *testing.T, gw *netns.Host) *ndppdSubject {
	if _, err := exec.LookPath("ndppd"); err != nil {
		t.Fatal("ndppd is not installed (apt-get install ndppd; make bench does it)")
	}
	s := &ndppdSubject{gw: gw, conf: filepath.Join(gw.Lab().Dir(), "ndppd.conf")}
	s.text = fmt.Sprintf("proxy wlan0 {\n    rule %v {\n        iface eth0\n    }\n}\n", proxied)
	if err := os.WriteFile(s.conf, []byte(s.text), 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *ndppdSubject) name() string { return "ndppd" }

func (s *ndppdSubject) start(t *testing.T) int {
	// Without -d ndppd stays in the foreground: the harness owns it.
	s.proc = s.gw.Start("ndppd", "ndppd", "-c", s.conf)
	return s.proc.Pid()
}

func (s *ndppdSubject) stop(t *testing.T) {
	// A saturated ndppd may take a while to see SIGTERM; the harness kills
	// it after the timeout, which is fine for a benchmark.
	_ = s.proc.Stop(3 * time.Second)
}

func (s *ndppdSubject) status() string { return "" }

// kernelSubject is Linux's own proxy: one entry per real target on the
// upstream, answered at once (proxy_delay=0) instead of after up to 0.8 s.
type kernelSubject struct {
	gw       *netns.Host
	add, del string // ip -batch files
}

func newKernel(t *testing.T, gw *netns.Host, targets []netip.Addr) *kernelSubject {
	s := &kernelSubject{
		gw:  gw,
		add: filepath.Join(gw.Lab().Dir(), "proxy-add.batch"),
		del: filepath.Join(gw.Lab().Dir(), "proxy-del.batch"),
	}
	var add, del strings.Builder
	for _, a := range targets {
		fmt.Fprintf(&add, "neigh add proxy %v dev wlan0\n", a)
		fmt.Fprintf(&del, "neigh del proxy %v dev wlan0\n", a)
	}
	for path, text := range map[string]string{s.add: add.String(), s.del: del.String()} {
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func (s *kernelSubject) name() string { return "kernel" }

func (s *kernelSubject) start(t *testing.T) int {
	// Unicast solicitations need all.proxy_ndp; gw already forwards.
	s.gw.SetSysctl("net.ipv6.conf.all.proxy_ndp=1", "net.ipv6.conf.wlan0.proxy_ndp=1", "net.ipv6.neigh.wlan0.proxy_delay=0")
	s.gw.MustIP("-batch", s.add)
	return 0
}

func (s *kernelSubject) stop(t *testing.T) {
	s.gw.MustIP("-batch", s.del)
	s.gw.SetSysctl("net.ipv6.conf.all.proxy_ndp=0", "net.ipv6.conf.wlan0.proxy_ndp=0")
}

func (s *kernelSubject) status() string { return "" }
