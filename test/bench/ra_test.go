//go:build bench

package bench

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ndproxy/ndproxy/test/netns"
)

// TestBenchRA measures the RA relay: how long after an upstream RA with a
// change (a new prefix) arrives on gw's upstream link the relayed RA
// carrying it arrives on the island. Beside it, for scale, how long radvd
// itself takes from its reload to that upstream RA. There is no packaged
// peer relay to run in the same lab: odhcpd, the usual one, is OpenWrt's and
// not in Debian.
//
//	up (radvd) ── wlan0 gw (ndproxy, ra_relay) eth0 ── dn
//
// Both times are kernel receive stamps on AF_PACKET sockets, on gw's wlan0
// and on dn's eth0.
func TestBenchRA(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces")
	}
	trials := 20
	if *quick {
		trials = 3
	}
	nl := netns.New(t)
	up, gw, dn := nl.Router("up"), nl.Host("gw"), nl.Host("dn")
	nl.Link(up, "eth0", gw, "wlan0")
	nl.Link(gw, "eth0", dn, "eth0")

	upRAs, dnRAs := &collector{}, &collector{}
	for _, c := range []struct {
		h   *netns.Host
		dev string
		to  *collector
	}{{gw, "wlan0", upRAs}, {dn, "eth0", dnRAs}} {
		r, err := newReader(c.h.NS, c.dev, ndFilter(typeRA), parseRAPrefix, c.to.add)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(r.close)
	}

	conf := filepath.Join(nl.Dir(), "radvd-bench.conf")
	writeRadvd := func(p netip.Prefix) {
		text := fmt.Sprintf("interface eth0 {\n\tAdvSendAdvert on;\n\tMinRtrAdvInterval 30;\n\tMaxRtrAdvInterval 60;\n"+
			"\tAdvDefaultLifetime 1800;\n\tprefix %v { AdvOnLink on; AdvAutonomous on; };\n};\n", p)
		if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	prefix := func(i int) netip.Prefix {
		return netip.MustParsePrefix(fmt.Sprintf("2001:db8:%x::/64", 0x100+i))
	}
	writeRadvd(prefix(0))
	radvd := up.Start("radvd", "radvd", "-n", "-m", "stderr", "-C", conf, "-p", filepath.Join(nl.Dir(), "radvd-bench.pid"))
	if _, err := gw.WaitAddr("wlan0", prefix(0), 10*time.Second); err != nil {
		t.Fatalf("gw SLAAC: %v", err)
	}

	bin, describe := ndproxyBin(t)
	cfgPath := filepath.Join(nl.Dir(), "ndproxy")
	cfg := fmt.Sprintf("config global\n\toption socket '/run/ndproxy-bench-%s.sock'\n\n"+
		"config proxy 'island'\n\toption upstream 'wlan0'\n\tlist downstream 'eth0'\n\toption ra_relay '1'\n", nl.ID())
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	nd := gw.Start("ndproxy", bin, "run", "-c", cfgPath)
	t.Cleanup(func() { _ = nd.Stop(5 * time.Second) })
	if _, err := waitFor(dnRAs, prefix(0), time.Time{}, 15*time.Second); err != nil {
		t.Fatalf("no relayed RA: %v\n%s", err, nd.Log())
	}

	var relay, origin []time.Duration
	for i := 1; i <= trials; i++ {
		p := prefix(i)
		writeRadvd(p)
		upRAs.take()
		dnRAs.take()
		hup := time.Now()
		if err := radvd.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		t0, err := waitFor(upRAs, p, hup, 10*time.Second)
		if err != nil {
			t.Fatalf("trial %d: radvd: %v", i, err)
		}
		t1, err := waitFor(dnRAs, p, t0, 10*time.Second)
		if err != nil {
			t.Fatalf("trial %d: relay: %v\n%s", i, err, nd.Log())
		}
		origin = append(origin, t0.Sub(hup))
		relay = append(relay, t1.Sub(t0))
		// radvd limits RAs to one per MinDelayBetweenRAs (3 s).
		time.Sleep(3100 * time.Millisecond)
	}

	body := raReport(relay, origin, describe)
	t.Log("\n" + body)
	if *docPath != "" && !*quick {
		if err := writeRADoc(*docPath, body); err != nil {
			t.Error(err)
		}
	}
}

const typeRA = 134

// parseRAPrefix returns the first prefix information option's prefix of an
// IPv6 packet carrying an RA.
func parseRAPrefix(b []byte) (netip.Addr, error) {
	const ipv6Len, raLen = 40, 16
	if len(b) < ipv6Len+raLen || b[ipv6Len] != typeRA {
		return netip.Addr{}, errors.New("not an RA")
	}
	for o := b[ipv6Len+raLen:]; len(o) >= 8 && o[1] > 0 && int(o[1])*8 <= len(o); o = o[int(o[1])*8:] {
		if o[0] == 3 && o[1] == 4 {
			return netip.AddrFrom16([16]byte(o[16:32])), nil
		}
	}
	return netip.Addr{}, errors.New("no prefix")
}

// waitFor returns when the first RA with prefix p after not arrived.
func waitFor(c *collector, p netip.Prefix, after time.Time, timeout time.Duration) (time.Time, error) {
	var seen []stamped
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		seen = append(seen, c.take()...)
		for _, s := range seen {
			if s.target == p.Addr() && s.at.After(after) {
				return s.at, nil
			}
		}
		time.Sleep(time.Millisecond)
	}
	return time.Time{}, fmt.Errorf("no RA with %v within %v", p, timeout)
}

func raReport(relay, origin []time.Duration, describe string) string {
	row := func(name string, d []time.Duration) string {
		s := slices.Clone(d)
		slices.Sort(s)
		ms := func(v time.Duration) string { return fmt.Sprintf("%.3f", float64(v.Microseconds())/1000) }
		return fmt.Sprintf("| %s | %d | %s | %s | %s |\n", name, len(s), ms(percentile(s, 50)), ms(percentile(s, 99)), ms(s[len(s)-1]))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "ndproxy %s, %s, kernel %s, load %s.\n\n", describe, cpuModel(), kernelRelease(), loadavg())
	b.WriteString("| step (ms) | trials | p50 | p99 | max |\n|---|---|---|---|---|\n")
	b.WriteString(row("ndproxy: upstream RA with a new prefix on wlan0 → relayed RA with it on the island", relay))
	b.WriteString(row("radvd, for scale: SIGHUP with the new prefix → its RA on wlan0", origin))
	return b.String()
}

const (
	raDocBegin = "<!-- ra bench results: begin (written by TestBenchRA) -->"
	raDocEnd   = "<!-- ra bench results: end -->"
)

func writeRADoc(path, body string) error {
	doc, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	i, j := bytes.Index(doc, []byte(raDocBegin)), bytes.Index(doc, []byte(raDocEnd))
	if i < 0 || j < i {
		return fmt.Errorf("%s: no markers %s … %s", path, raDocBegin, raDocEnd)
	}
	var out bytes.Buffer
	out.Write(doc[:i+len(raDocBegin)])
	out.WriteString("\n\n" + strings.TrimSpace(body) + "\n\n")
	out.Write(doc[j:])
	return os.WriteFile(path, out.Bytes(), 0o644)
}
