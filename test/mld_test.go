package test

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/mdlayher/ndp"
	"golang.org/x/net/ipv6"

	"github.com/ndproxy/ndproxy/test/netns"
)

// TestMLDPriority shows what ndproxy's MLD registry is for: during a flood of
// solicitations for random targets, all from the upstream router, a new host
// on the island is answered the first time it is asked, because it reported
// its solicited-node group when its address was added. The control is a
// second new host, the same in every way but that its MLD reports never
// leave it (nftables drops them on their way out, as a snooping switch that
// keeps them from the router's port would): asked once during the same flood
// it gets no answer, since the upstream router's probe budget is spent on the
// flood; asked again after the flood, it is answered, so it was the budget
// and not the host.
//
//	up ─────────── wlan0 │ gw │ eth0 ──── island switch ──┬── seen: reports its groups
//	asks, and floods       ndproxy                        └── unseen: its MLD reports dropped
//	2000 NS/s
//
// No verdict depends on timing. The flood keeps the upstream router's bucket
// (20 new targets a second) empty: each question is sent right behind a
// flood solicitation on the same socket, so ndproxy reads it when a flood
// solicitation has just taken whatever token there was, however slowly the
// machine runs. Answers are waited for up to 2 s; one takes a millisecond.
// The waits before the flood are bounded polls.
func TestMLDPriority(t *testing.T) {
	t.Parallel()
	var (
		lan = netip.MustParsePrefix("2001:db8:3c1d:1::/64")
		sub = netip.MustParsePrefix("2001:db8:3c1d:1:40::/76")
		// The hosts' addresses differ in the low 24 bits their
		// solicited-node groups keep, and from every link-local's.
		ready   = netip.MustParseAddr("2001:db8:3c1d:1:41::c1:1")
		seenA   = netip.MustParseAddr("2001:db8:3c1d:1:41::a1:1")
		unseenA = netip.MustParseAddr("2001:db8:3c1d:1:41::b1:1")
		// Flood targets are random in a /80 of sub where no host lives.
		floodNet = netip.MustParsePrefix("2001:db8:3c1d:1:4f::/80")
	)
	lab := netns.New(t)
	up, gw := lab.Host("up"), lab.Host("gw")
	seen, unseen := lab.Host("seen"), lab.Host("unseen")
	island := lab.Switch("island")
	lab.Link(up, "eth0", gw, "wlan0")
	up.AddAddr("eth0", host(lan, 1))
	gw.AddAddr("wlan0", host(lan, 2))
	dropped := dropMLDReports(t, unseen)
	island.Attach(gw, "eth0")
	island.Attach(seen, "eth0")
	island.Attach(unseen, "eth0")
	seen.AddAddr("eth0", netip.PrefixFrom(ready, 128))

	d := newDaemon(t, gw, islandConfig(sub, "probe"))
	d.start()
	a := newAsker(t, up, "eth0")
	if err := netns.Poll(10*time.Second, func() error {
		if err := d.running(); err != nil {
			return err
		}
		return a.ask(ready, time.Second)
	}); err != nil {
		t.Fatalf("ndproxy does not answer for %v on the island before any flood: %v", ready, err)
	}

	// The new addresses come once every report already sent has been read
	// (the ready address's, the answers to ndproxy's query at start): the
	// next report ndproxy counts is then one of seen's new address.
	reports := quietMLD(t, d)
	seen.AddAddr("eth0", netip.PrefixFrom(seenA, 128))
	unseen.AddAddr("eth0", netip.PrefixFrom(unseenA, 128))
	if err := netns.Poll(10*time.Second, func() error {
		if n := mldReports(t, d); n <= reports {
			return fmt.Errorf("ndproxy read no MLD report since %v was added to seen (%d in all)", seenA, n)
		}
		if n := dropped(); n == 0 {
			return fmt.Errorf("no MLD report of unseen was dropped since %v was added to it", unseenA)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	stop := a.flood(floodNet, 2000)
	time.Sleep(time.Second) // long past the bucket's burst of 20
	errSeen := a.askInFlood(seenA, 2*time.Second)
	errUnseen := a.askInFlood(unseenA, 2*time.Second)
	flooded := stop()
	states := statusTargets(t, d)
	t.Logf("flood: %d solicitations; asked once in it, seen's %v (%s): %v; unseen's %v (%s): %v",
		flooded, seenA, states[seenA.String()], errSeen, unseenA, states[unseenA.String()], errUnseen)
	if flooded < 1000 {
		t.Fatalf("the flood sent only %d solicitations: this test shows nothing", flooded)
	}
	if errSeen != nil {
		t.Errorf("seen, whose group ndproxy read in an MLD report, is not answered during the flood when asked once: %v", errSeen)
	}
	switch {
	case errUnseen == nil:
		t.Errorf("the control, unseen (no MLD report), was answered during the flood: the flood does not spend the probe budget, so the answer for seen proves nothing")
	case !errors.Is(errUnseen, errNoAnswer):
		t.Errorf("asking for unseen's %v: %v", unseenA, errUnseen)
	case states[unseenA.String()] != "":
		t.Errorf("unseen's %v was %s during the flood, want unknown: not answered, but for another reason than the probe budget", unseenA, states[unseenA.String()])
	}

	// With the flood over, the router's budget fills again: unseen is a
	// host like any other.
	if err := netns.Poll(5*time.Second, func() error { return a.ask(unseenA, time.Second) }); err != nil {
		t.Errorf("unseen's %v is not answered after the flood either: the control is broken: %v", unseenA, err)
	}
}

// dropMLDReports makes h drop every MLD report and done message it sends, and
// returns how many it dropped so far.
func dropMLDReports(t *testing.T, h *netns.Host) func() int {
	t.Helper()
	rules := `table ip6 nomld {
	chain out {
		type filter hook output priority 0; policy accept;
		icmpv6 type { mld-listener-report, mld2-listener-report, mld-listener-done } counter drop
	}
}
`
	path := filepath.Join(h.Lab().Dir(), "nomld-"+h.Name+".nft")
	if err := os.WriteFile(path, []byte(rules), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := h.Run("nft", "-f", path); err != nil {
		t.Fatalf("nft: %v\n%s", err, out)
	}
	counted := regexp.MustCompile(`counter packets (\d+)`)
	return func() int {
		out, err := h.Run("nft", "list", "chain", "ip6", "nomld", "out")
		if err != nil {
			t.Fatalf("nft: %v", err)
		}
		m := counted.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no counter in nft's chain:\n%s", out)
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
}

// mldReports reads ndproxy's count of MLD reports read on the island.
func mldReports(t *testing.T, d *daemon) uint64 {
	t.Helper()
	out, err := d.host.Run(d.bin, "status", "--json", "-s", d.sock)
	if err != nil {
		t.Fatalf("ndproxy status: %v\n%s", err, out)
	}
	var st struct {
		Proxies []struct {
			Counters struct {
				MLDReports uint64 `json:"mld_reports"`
			} `json:"counters"`
		} `json:"proxies"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil || len(st.Proxies) != 1 {
		t.Fatalf("ndproxy status --json (%v):\n%s", err, out)
	}
	return st.Proxies[0].Counters.MLDReports
}

// quietMLD waits until ndproxy's MLD report count has not moved for longer
// than a host takes to repeat a report (RFC 3810: at most 1 s, the
// Unsolicited Report Interval), and returns it.
func quietMLD(t *testing.T, d *daemon) uint64 {
	t.Helper()
	const quiet = 1500 * time.Millisecond
	n, since := mldReports(t, d), time.Now()
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); {
		time.Sleep(250 * time.Millisecond)
		if m := mldReports(t, d); m != n {
			n, since = m, time.Now()
		} else if time.Since(since) >= quiet {
			return n
		}
	}
	t.Fatalf("MLD reports keep coming on the island (%d so far)", n)
	return 0
}

var errNoAnswer = errors.New("no neighbor advertisement")

// asker sends Neighbor Solicitations on a link of a host and reads the
// advertisements that answer them, through a raw ICMPv6 socket opened in the
// host's namespace: the kernel adds the IPv6 header and the checksum, and
// picks the source, the link-local address, as it does for its own
// multicast solicitations.
type asker struct {
	t       *testing.T
	pc      *ipv6.PacketConn
	ifindex int
	ns      []byte // a solicitation; the target goes at 8..24
	answers chan netip.Addr
	// asks hands a target to the flood, which sends it right behind one
	// of its own solicitations.
	asks chan netip.Addr
}

func newAsker(t *testing.T, h *netns.Host, dev string) *asker {
	t.Helper()
	a := &asker{t: t, answers: make(chan netip.Addr, 64), asks: make(chan netip.Addr)}
	var c net.PacketConn
	err := netns.InNamespace(h.NS, func() error {
		ifi, err := net.InterfaceByName(dev)
		if err != nil {
			return err
		}
		a.ifindex = ifi.Index
		if a.ns, err = ndp.MarshalMessage(&ndp.NeighborSolicitation{
			TargetAddress: netip.IPv6Unspecified(),
			Options:       []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Source, Addr: ifi.HardwareAddr}},
		}); err != nil {
			return err
		}
		c, err = net.ListenPacket("ip6:ipv6-icmp", "::")
		return err
	})
	if err != nil {
		t.Fatalf("on %s: %v", h.Name, err)
	}
	a.pc = ipv6.NewPacketConn(c)
	var f ipv6.ICMPFilter
	f.SetAll(true)
	f.Accept(ipv6.ICMPTypeNeighborAdvertisement)
	if err := errors.Join(a.pc.SetICMPFilter(&f), a.pc.SetMulticastHopLimit(255), a.pc.SetMulticastLoopback(false)); err != nil {
		c.Close()
		t.Fatalf("on %s: ICMPv6 socket: %v", h.Name, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			n, _, _, err := a.pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if n >= 24 && buf[0] == byte(ipv6.ICMPTypeNeighborAdvertisement) {
				select {
				case a.answers <- netip.AddrFrom16([16]byte(buf[8:24])):
				default:
				}
			}
		}
	}()
	t.Cleanup(func() { c.Close(); <-done })
	return a
}

// send solicits target on the asker's link, to its solicited-node group.
// One goroutine at a time: ask before and after a flood, the flood during.
func (a *asker) send(target netip.Addr) error {
	b := target.As16()
	copy(a.ns[8:24], b[:])
	group := netip.AddrFrom16([16]byte{0xff, 0x02, 11: 1, 12: 0xff, 13: b[13], 14: b[14], 15: b[15]})
	_, err := a.pc.WriteTo(a.ns, &ipv6.ControlMessage{HopLimit: 255, IfIndex: a.ifindex}, &net.IPAddr{IP: group.AsSlice()})
	return err
}

// ask solicits target once and waits up to timeout for its advertisement.
func (a *asker) ask(target netip.Addr, timeout time.Duration) error {
	a.drain()
	if err := a.send(target); err != nil {
		return err
	}
	return a.await(target, timeout)
}

// askInFlood is ask while flood runs: the flood sends the solicitation.
func (a *asker) askInFlood(target netip.Addr, timeout time.Duration) error {
	a.drain()
	a.asks <- target
	return a.await(target, timeout)
}

func (a *asker) drain() {
	for {
		select {
		case <-a.answers:
		default:
			return
		}
	}
}

func (a *asker) await(target netip.Addr, timeout time.Duration) error {
	deadline := time.After(timeout)
	for {
		select {
		case got := <-a.answers:
			if got == target {
				return nil
			}
		case <-deadline:
			return fmt.Errorf("%v asked once, nothing in %v: %w", target, timeout, errNoAnswer)
		}
	}
}

// flood solicits random targets in within at rate a second until the
// returned stop is called; stop returns how many went out. A target handed
// to askInFlood is sent right behind a flood solicitation.
func (a *asker) flood(within netip.Prefix, rate float64) (stop func() int) {
	quit := make(chan struct{})
	var wg sync.WaitGroup
	var tried, sent int
	wg.Add(1)
	go func() {
		defer wg.Done()
		r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 3))
		base := within.Addr().As16()
		random := func() netip.Addr {
			b := base
			for i := within.Bits() / 8; i < 16; i++ {
				b[i] = byte(r.Uint32())
			}
			return netip.AddrFrom16(b)
		}
		start := time.Now()
		for {
			// Catch up after a stall, as a router would have asked
			// meanwhile, and always one more before a question.
			due := int(time.Since(start).Seconds() * rate)
			for ; tried < due; tried++ {
				if a.send(random()) == nil {
					sent++
				}
			}
			select {
			case <-quit:
				return
			case target := <-a.asks:
				if a.send(random()) == nil {
					sent++
				}
				if err := a.send(target); err != nil {
					a.t.Errorf("asking for %v: %v", target, err)
				}
			case <-time.After(time.Millisecond):
			}
		}
	}()
	return func() int {
		close(quit)
		wg.Wait()
		return sent
	}
}
