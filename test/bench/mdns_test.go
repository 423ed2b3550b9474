//go:build bench

package bench

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
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
	"golang.org/x/net/ipv6"
)

// TestBenchMDNS measures the mDNS reflector next to avahi-daemon's own
// (enable-reflector=yes), one after the other on the same lab:
//
//		laptop ── wlan0 gw (ndproxy or avahi reflector) eth0 ── pi (avahi-daemon, pi41.local)
//
//	  - latency: from a query on the laptop to the answer there, the pi's
//	    avahi answering across the gateway: legacy unicast queries (one-shot,
//	    from an ephemeral port, answered every time) and multicast queries
//	    from port 5353 (1.1 s apart: no responder or reflector multicasts a
//	    record more often);
//	  - throughput: queries for distinct names sent from the laptop at a
//	    rising rate, counted as they arrive on the island; and responses with
//	    distinct records sent on the island, counted on the laptop. Each step
//	    reports the share carried and the reflector's CPU time per packet.
func TestBenchMDNS(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces")
	}
	legacyTrials, mcastTrials := 200, 15
	rates := []int{500, 1000, 2000, 5000, 10000}
	stepTime := 2 * time.Second
	if *quick {
		legacyTrials, mcastTrials, rates, stepTime = 20, 3, []int{500, 2000}, time.Second
	}
	nl := netns.New(t)
	laptop, gw, pi := nl.Host("laptop"), nl.Host("gw"), nl.Host("pi")
	nl.Link(laptop, "eth0", gw, "wlan0")
	nl.Link(gw, "eth0", pi, "eth0")
	laptop.AddAddr("eth0", netip.MustParsePrefix("2001:db8:77::100/64"))
	gw.AddAddr("wlan0", netip.MustParsePrefix("2001:db8:77::2/64"))
	gw.AddAddr("eth0", netip.MustParsePrefix("2001:db8:41::1/64"))
	pi.AddAddr("eth0", netip.MustParsePrefix("2001:db8:41::41/64"))
	pi.Avahi("pi41", []string{"eth0"}, "")

	bin, describe := ndproxyBin(t)
	cfgPath := filepath.Join(nl.Dir(), "ndproxy")
	cfg := fmt.Sprintf("config global\n\toption socket '/run/ndproxy-bench-%s.sock'\n\n"+
		"config mdns 'lan'\n\tlist interface 'wlan0'\n\tlist interface 'eth0'\n\toption ipv4 '0'\n", nl.ID())
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}

	var results []mdnsResult
	for _, subject := range []string{"ndproxy", "avahi reflector"} {
		var p *netns.Proc
		if subject == "ndproxy" {
			p = gw.Start("ndproxy", bin, "run", "-c", cfgPath)
		} else {
			p = gw.Avahi("gwav", []string{"wlan0", "eth0"}, "[reflector]\nenable-reflector=yes\n")
		}
		r := mdnsResult{name: subject}
		// Ready once a legacy query is answered across.
		var err error
		for try := 0; try < 20; try++ {
			if _, err = mdnsLatency(laptop, true, 1, 0); err == nil {
				break
			}
		}
		if err != nil {
			t.Fatalf("%s does not carry mDNS: %v\n%s", subject, err, p.Log())
		}
		time.Sleep(1100 * time.Millisecond) // past every once-a-second rule
		if r.legacy, err = mdnsLatency(laptop, true, legacyTrials, 20*time.Millisecond); err != nil {
			t.Fatalf("%s: legacy queries: %v\n%s", subject, err, p.Log())
		}
		if r.mcast, err = mdnsLatency(laptop, false, mcastTrials, 1100*time.Millisecond); err != nil {
			t.Fatalf("%s: multicast queries: %v\n%s", subject, err, p.Log())
		}
		for _, rate := range rates {
			q, err := mdnsFlood(laptop, pi, p.Pid(), rate, stepTime, false)
			if err != nil {
				t.Fatalf("%s: query flood: %v", subject, err)
			}
			a, err := mdnsFlood(pi, laptop, p.Pid(), rate, stepTime, true)
			if err != nil {
				t.Fatalf("%s: response flood: %v", subject, err)
			}
			r.queries, r.answers = append(r.queries, q), append(r.answers, a)
		}
		if err := p.Stop(5 * time.Second); err != nil {
			t.Errorf("%s did not stop cleanly: %v", subject, err)
		}
		results = append(results, r)
	}
	body := mdnsReport(results, rates, stepTime, describe, *quick)
	t.Log("\n" + body)
	if *docPath != "" && !*quick {
		if err := writeMarked(*docPath, mdnsDocBegin, mdnsDocEnd, body); err != nil {
			t.Error(err)
		}
	}
}

type mdnsResult struct {
	name             string
	legacy, mcast    []time.Duration // sorted
	queries, answers []mdnsStep
}

type mdnsStep struct {
	sent, heard int
	cpu         time.Duration // of the reflector during the step
}

// listenMDNS opens a UDP socket in namespace ns: on port 5353 joined to
// ff02::fb on dev (port 0: an ephemeral one, not joined).
func listenMDNS(ns, dev string, port int) (*ipv6.PacketConn, *net.Interface, error) {
	var pc net.PacketConn
	var ifi *net.Interface
	err := netns.InNamespace(ns, func() error {
		var err error
		if ifi, err = net.InterfaceByName(dev); err != nil {
			return err
		}
		lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
			var serr error
			c.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
			})
			return serr
		}}
		pc, err = lc.ListenPacket(context.Background(), "udp6", fmt.Sprintf(":%d", port))
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	p := ipv6.NewPacketConn(pc)
	p.SetMulticastInterface(ifi)
	p.SetMulticastHopLimit(255)
	p.SetMulticastLoopback(false)
	if port == 5353 {
		if err := p.JoinGroup(ifi, mdnsGroup); err != nil {
			pc.Close()
			return nil, nil, err
		}
	}
	if err := pc.(*net.UDPConn).SetReadBuffer(4 << 20); err != nil {
		pc.Close()
		return nil, nil, err
	}
	return p, ifi, nil
}

var mdnsGroup = &net.UDPAddr{IP: net.ParseIP("ff02::fb"), Port: 5353}

// mdnsLatency asks for pi41.local n times, every apart, from the laptop,
// and returns the sorted times to the first answer.
func mdnsLatency(laptop *netns.Host, legacy bool, n int, every time.Duration) ([]time.Duration, error) {
	port := 5353
	if legacy {
		port = 0
	}
	p, _, err := listenMDNS(laptop.NS, "eth0", port)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	var out []time.Duration
	buf := make([]byte, 9000)
	misses := 0
	for i := 0; i < n; i++ {
		id := uint16(0)
		if legacy {
			id = uint16(i + 1)
		}
		q := mdnsMessage(id, false, "pi41.local", 28)
		start := time.Now()
		if _, err := p.WriteTo(q, nil, mdnsGroup); err != nil {
			return nil, err
		}
		p.SetReadDeadline(start.Add(time.Second))
		for {
			n, _, _, err := p.ReadFrom(buf)
			if err != nil {
				misses++
				break
			}
			if rid, resp, name := mdnsFirstName(buf[:n]); resp && strings.EqualFold(name, "pi41.local") && (!legacy || rid == id) {
				out = append(out, time.Since(start))
				break
			}
		}
		time.Sleep(time.Until(start.Add(every)))
	}
	if misses > n/20 {
		return nil, fmt.Errorf("%d of %d queries unanswered", misses, n)
	}
	slices.Sort(out)
	return out, nil
}

// mdnsFlood sends rate packets a second for d from host from: queries for
// distinct names, or responses with distinct records, and counts how many
// distinct ones arrive on host to.
func mdnsFlood(from, to *netns.Host, pid, rate int, d time.Duration, responses bool) (mdnsStep, error) {
	tx, _, err := listenMDNS(from.NS, "eth0", 5353)
	if err != nil {
		return mdnsStep{}, err
	}
	defer tx.Close()
	rx, _, err := listenMDNS(to.NS, "eth0", 5353)
	if err != nil {
		return mdnsStep{}, err
	}
	defer rx.Close()
	// Names are unique per run, so that what is left over from an earlier
	// step is not counted.
	tag := fmt.Sprintf("f%x", time.Now().UnixNano()&0xffffff)
	var mu sync.Mutex
	heard := map[string]bool{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 9000)
		for {
			n, _, _, err := rx.ReadFrom(buf)
			if err != nil {
				return
			}
			_, resp, name := mdnsFirstName(buf[:n])
			if resp == responses && strings.HasPrefix(name, tag) {
				mu.Lock()
				heard[strings.ToLower(name)] = true
				mu.Unlock()
			}
		}
	}()
	before, err := readProc(pid)
	if err != nil {
		return mdnsStep{}, err
	}
	start := time.Now()
	sent := 0
	for time.Since(start) < d {
		due := int(time.Since(start).Seconds() * float64(rate))
		for ; sent < due; sent++ {
			name := fmt.Sprintf("%s-%d.local", tag, sent)
			var b []byte
			if responses {
				b = mdnsMessage(0, true, name, 28)
			} else {
				b = mdnsMessage(0, false, name, 28)
			}
			if _, err := tx.WriteTo(b, nil, mdnsGroup); err != nil {
				return mdnsStep{}, err
			}
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(time.Second) // late copies: avahi aggregates and delays
	after, err := readProc(pid)
	if err != nil {
		return mdnsStep{}, err
	}
	rx.SetReadDeadline(time.Now())
	<-done
	mu.Lock()
	defer mu.Unlock()
	return mdnsStep{sent: sent, heard: len(heard), cpu: after.cpu - before.cpu}, nil
}

// mdnsMessage builds a query for name and type, or a response with one
// record of that type for it (an AAAA in 2001:db8:41::/64, cache-flush set).
func mdnsMessage(id uint16, response bool, name string, typ uint16) []byte {
	b := binary.BigEndian.AppendUint16(nil, id)
	if response {
		b = append(b, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 0)
	} else {
		b = append(b, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0)
	}
	for _, l := range strings.Split(name, ".") {
		b = append(b, byte(len(l)))
		b = append(b, l...)
	}
	b = append(b, 0)
	b = binary.BigEndian.AppendUint16(b, typ)
	if !response {
		return binary.BigEndian.AppendUint16(b, 1)
	}
	b = append(b, 0x80, 1, 0, 0, 0, 120, 0, 16)
	a := netip.MustParseAddr("2001:db8:41::41").As16()
	return append(b, a[:]...)
}

// mdnsFirstName returns a message's ID, whether it is a response, and the
// name of its first question (queries) or first answer (responses).
func mdnsFirstName(b []byte) (id uint16, response bool, name string) {
	if len(b) < 12 {
		return 0, false, ""
	}
	id, response = binary.BigEndian.Uint16(b), b[2]&0x80 != 0
	off := 12
	if response {
		// Skip the questions a legacy answer repeats.
		for q := binary.BigEndian.Uint16(b[4:]); q > 0; q-- {
			var err error
			if off, err = skipName(b, off); err != nil || off+4 > len(b) {
				return id, response, ""
			}
			off += 4
		}
	}
	return id, response, readBenchName(b, off)
}

// readBenchName reads the name at off, following compression pointers
// backwards only.
func readBenchName(b []byte, off int) string {
	var labels []string
	for limit := off; off < len(b) && b[off] != 0; {
		switch c := int(b[off]); {
		case c >= 0xc0 && off+1 < len(b):
			ptr := int(binary.BigEndian.Uint16(b[off:]) & 0x3fff)
			if ptr >= limit {
				return ""
			}
			off, limit = ptr, ptr
		case c < 64 && off+1+c <= len(b):
			labels = append(labels, string(b[off+1:off+1+c]))
			off += 1 + c
		default:
			return ""
		}
	}
	return strings.Join(labels, ".")
}

func skipName(b []byte, off int) (int, error) {
	for off < len(b) {
		switch c := b[off]; {
		case c == 0:
			return off + 1, nil
		case c >= 0xc0:
			return off + 2, nil
		case c < 64:
			off += 1 + int(c)
		default:
			return 0, errors.New("bad label")
		}
	}
	return 0, errors.New("short")
}

func mdnsReport(rs []mdnsResult, rates []int, step time.Duration, describe string, quick bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "ndproxy %s, avahi-daemon %s, %s, kernel %s, load %s.", describe, avahiVersion(), cpuModel(), kernelRelease(), loadavg())
	if quick {
		b.WriteString(" **-quick run: not a measurement.**")
	}
	b.WriteString("\n\n")
	ms := func(v time.Duration) string { return fmt.Sprintf("%.3f", float64(v.Microseconds())/1000) }
	b.WriteString("| latency, query on the laptop → answer there (ms) |")
	for _, r := range rs {
		fmt.Fprintf(&b, " %s p50 | %s p99 |", r.name, r.name)
	}
	b.WriteString("\n|---|" + strings.Repeat("---|---|", len(rs)) + "\n")
	for _, row := range []struct {
		name string
		get  func(mdnsResult) []time.Duration
	}{
		{"legacy unicast query (ephemeral port), answered by unicast", func(r mdnsResult) []time.Duration { return r.legacy }},
		{"multicast query from port 5353, 1.1 s apart", func(r mdnsResult) []time.Duration { return r.mcast }},
	} {
		fmt.Fprintf(&b, "| %s (n = %d) |", row.name, len(row.get(rs[0])))
		for _, r := range rs {
			d := row.get(r)
			fmt.Fprintf(&b, " %s | %s |", ms(percentile(d, 50)), ms(percentile(d, 99)))
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
	for _, dir := range []struct {
		title string
		get   func(mdnsResult) []mdnsStep
	}{
		{"queries for distinct names, laptop → island", func(r mdnsResult) []mdnsStep { return r.queries }},
		{"responses with distinct records, island → laptop", func(r mdnsResult) []mdnsStep { return r.answers }},
	} {
		fmt.Fprintf(&b, "| %s, %v a step | ", dir.title, step)
		for _, r := range rs {
			fmt.Fprintf(&b, " %s carried | %s CPU µs/packet |", r.name, r.name)
		}
		b.WriteString("\n|---|" + strings.Repeat("---|---|", len(rs)) + "\n")
		for i, rate := range rates {
			fmt.Fprintf(&b, "| %d/s |", rate)
			for _, r := range rs {
				s := dir.get(r)[i]
				per := "–"
				if s.sent > 0 {
					per = fmt.Sprintf("%.1f", float64(s.cpu.Microseconds())/float64(s.sent))
				}
				fmt.Fprintf(&b, " %.1f %% | %s |", 100*float64(s.heard)/float64(max(s.sent, 1)), per)
			}
			b.WriteString("\n")
		}
		b.WriteString("\n")
	}
	return b.String()
}

func avahiVersion() string {
	out, err := exec.Command("dpkg-query", "-W", "-f", "${Version}", "avahi-daemon").Output()
	if err != nil {
		return "(version unknown)"
	}
	return strings.TrimSpace(string(out))
}

const (
	mdnsDocBegin = "<!-- mdns bench results: begin (written by TestBenchMDNS) -->"
	mdnsDocEnd   = "<!-- mdns bench results: end -->"
)

// writeMarked puts body between the markers begin and end of the file at path.
func writeMarked(path, begin, end, body string) error {
	doc, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	i, j := bytes.Index(doc, []byte(begin)), bytes.Index(doc, []byte(end))
	if i < 0 || j < i {
		return fmt.Errorf("%s: no markers %s … %s", path, begin, end)
	}
	var out bytes.Buffer
	out.Write(doc[:i+len(begin)])
	out.WriteString("\n\n" + strings.TrimSpace(body) + "\n\n")
	out.Write(doc[j:])
	return os.WriteFile(path, out.Bytes(), 0o644)
}
