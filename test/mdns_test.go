package test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ndproxy/ndproxy/internal/control"
	"github.com/ndproxy/ndproxy/test/netns"
	"golang.org/x/net/dns/dnsmessage"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// mdnsHelperEnv, set to a JSON mdnsQuery, makes the test binary an mDNS
// client inside a namespace (as netns does for TCP): it sends the query and
// prints what comes back as JSON. The replies are read with x/net's
// dnsmessage, not with ndproxy's own parser.
const mdnsHelperEnv = "NDPROXY_MDNS_QUERY"

func init() {
	arg := os.Getenv(mdnsHelperEnv)
	if arg == "" {
		return
	}
	var q mdnsQuery
	err := json.Unmarshal([]byte(arg), &q)
	var res mdnsResult
	if err == nil {
		res, err = q.run()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "mdns helper:", err)
		os.Exit(1)
	}
	json.NewEncoder(os.Stdout).Encode(res)
	os.Exit(0)
}

// mdnsQuery is one mDNS exchange from a host.
type mdnsQuery struct {
	Iface string
	V4    bool
	Name  string // without the trailing dot: "pi41.local"
	Type  uint16 // 1 A, 28 AAAA
	// SrcPort 5353 is a full mDNS querier; 0 an ephemeral port, a legacy
	// unicast querier (RFC 6762 §6.7).
	SrcPort int
	ID      uint16
	QU      bool
	// Raw, when set, is sent instead of a query; with neither Raw nor
	// Name nothing is sent, and the host only listens.
	Raw []byte
	// Count queries are sent Every apart; replies are collected until
	// Wait after the first.
	Count int
	Every time.Duration
	Wait  time.Duration
}

type mdnsResult struct {
	Replies []mdnsReply
}

type mdnsReply struct {
	From    string
	Unicast bool
	// HopLimit is the IPv6 hop limit or IPv4 TTL it arrived with.
	HopLimit int
	ID       uint16
	At       time.Duration // since the first query was sent
	Records  []mdnsRecord
}

type mdnsRecord struct {
	Name       string
	Type       uint16
	Addr       string // A and AAAA only
	CacheFlush bool
	TTL        uint32
}

// has reports whether the replies hold a record of type typ for name.
func (r mdnsResult) has(name string, typ uint16) bool {
	for _, rep := range r.Replies {
		for _, rec := range rep.Records {
			if strings.EqualFold(rec.Name, name+".") && rec.Type == typ {
				return true
			}
		}
	}
	return false
}

// addrs returns the addresses of name in the replies (any section).
func (r mdnsResult) addrs(name string) []netip.Addr {
	var out []netip.Addr
	for _, rep := range r.Replies {
		for _, rec := range rep.Records {
			if strings.EqualFold(rec.Name, name+".") && rec.Addr != "" {
				a := netip.MustParseAddr(rec.Addr)
				if !slices.Contains(out, a) {
					out = append(out, a)
				}
			}
		}
	}
	return out
}

func (q mdnsQuery) run() (mdnsResult, error) {
	ifi, err := net.InterfaceByName(q.Iface)
	if err != nil {
		return mdnsResult{}, err
	}
	network, group := "udp6", &net.UDPAddr{IP: net.ParseIP("ff02::fb"), Port: 5353}
	if q.V4 {
		network, group = "udp4", &net.UDPAddr{IP: net.IPv4(224, 0, 0, 251), Port: 5353}
	}
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
		})
		return serr
	}}
	pc, err := lc.ListenPacket(context.Background(), network, fmt.Sprintf(":%d", q.SrcPort))
	if err != nil {
		return mdnsResult{}, err
	}
	defer pc.Close()
	// read returns a datagram and whether it was sent to us alone.
	var read func([]byte) (int, net.Addr, bool, int, error)
	var send func([]byte) error
	if q.V4 {
		p := ipv4.NewPacketConn(pc)
		p.SetMulticastInterface(ifi)
		p.SetMulticastTTL(255)
		p.SetMulticastLoopback(false)
		p.SetControlMessage(ipv4.FlagDst|ipv4.FlagTTL, true)
		if q.SrcPort == 5353 {
			if err := p.JoinGroup(ifi, group); err != nil {
				return mdnsResult{}, err
			}
		}
		read = func(b []byte) (int, net.Addr, bool, int, error) {
			n, cm, src, err := p.ReadFrom(b)
			if cm == nil {
				return n, src, false, 0, err
			}
			return n, src, !cm.Dst.IsMulticast(), cm.TTL, err
		}
		send = func(b []byte) error { _, err := p.WriteTo(b, nil, group); return err }
	} else {
		p := ipv6.NewPacketConn(pc)
		p.SetMulticastInterface(ifi)
		p.SetMulticastHopLimit(255)
		p.SetMulticastLoopback(false)
		p.SetControlMessage(ipv6.FlagDst|ipv6.FlagHopLimit, true)
		if q.SrcPort == 5353 {
			if err := p.JoinGroup(ifi, group); err != nil {
				return mdnsResult{}, err
			}
		}
		read = func(b []byte) (int, net.Addr, bool, int, error) {
			n, cm, src, err := p.ReadFrom(b)
			if cm == nil {
				return n, src, false, 0, err
			}
			return n, src, !cm.Dst.IsMulticast(), cm.HopLimit, err
		}
		send = func(b []byte) error { _, err := p.WriteTo(b, nil, group); return err }
	}

	msg := q.Raw
	if msg == nil && q.Name != "" {
		class := dnsmessage.ClassINET
		if q.QU {
			class |= 1 << 15
		}
		b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: q.ID})
		b.StartQuestions()
		b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName(q.Name + "."), Type: dnsmessage.Type(q.Type), Class: class})
		if msg, err = b.Finish(); err != nil {
			return mdnsResult{}, err
		}
	}
	start := time.Now()
	go func() {
		for i := 0; i < max(q.Count, 1) && msg != nil; i++ {
			send(msg)
			time.Sleep(q.Every)
		}
	}()
	var res mdnsResult
	buf := make([]byte, 9000)
	pc.SetReadDeadline(start.Add(q.Wait))
	for {
		n, src, unicast, hops, err := read(buf)
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				return res, nil
			}
			return res, err
		}
		rep, ok := parseReply(buf[:n])
		if !ok {
			continue // a query, or garbage
		}
		rep.From, rep.Unicast, rep.HopLimit, rep.At = src.String(), unicast, hops, time.Since(start)
		res.Replies = append(res.Replies, rep)
	}
}

func parseReply(b []byte) (mdnsReply, bool) {
	var p dnsmessage.Parser
	h, err := p.Start(b)
	if err != nil || !h.Response {
		return mdnsReply{}, false
	}
	rep := mdnsReply{ID: h.ID}
	if err := p.SkipAllQuestions(); err != nil {
		return mdnsReply{}, false
	}
	// Only A and AAAA bodies are read: dnsmessage is stricter about some
	// rdata (avahi's TXT, compressed NSEC) than mDNS needs.
	read := func(header func() (dnsmessage.ResourceHeader, error), skip func() error) bool {
		for {
			h, err := header()
			if err == dnsmessage.ErrSectionDone {
				return true
			}
			if err != nil {
				return false
			}
			r := mdnsRecord{Name: h.Name.String(), Type: uint16(h.Type), CacheFlush: h.Class&(1<<15) != 0, TTL: h.TTL}
			switch h.Type {
			case dnsmessage.TypeA:
				b, err := p.AResource()
				if err != nil {
					return false
				}
				r.Addr = netip.AddrFrom4(b.A).String()
			case dnsmessage.TypeAAAA:
				b, err := p.AAAAResource()
				if err != nil {
					return false
				}
				r.Addr = netip.AddrFrom16(b.AAAA).String()
			default:
				if err := skip(); err != nil {
					return false
				}
			}
			rep.Records = append(rep.Records, r)
		}
	}
	if !read(p.AnswerHeader, p.SkipAnswer) {
		return mdnsReply{}, false
	}
	if p.SkipAllAuthorities() == nil {
		read(p.AdditionalHeader, p.SkipAdditional)
	}
	return rep, true
}

// mdnsAsk runs q on h.
func mdnsAsk(t *testing.T, h *netns.Host, q mdnsQuery) mdnsResult {
	t.Helper()
	res, err := mdnsRun(h, q)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// mdnsRun is mdnsAsk for any goroutine.
func mdnsRun(h *netns.Host, q mdnsQuery) (mdnsResult, error) {
	if q.Wait == 0 {
		q.Wait = 1500 * time.Millisecond
	}
	arg, _ := json.Marshal(q)
	exe, err := os.Executable()
	if err != nil {
		return mdnsResult{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), q.Wait+10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", h.NS, exe)
	cmd.Env = append(os.Environ(), mdnsHelperEnv+"="+string(arg))
	out, err := cmd.Output()
	if err != nil {
		return mdnsResult{}, fmt.Errorf("mDNS query on %s: %v: %s", h.Name, err, out)
	}
	var res mdnsResult
	if err := json.Unmarshal(out, &res); err != nil {
		return mdnsResult{}, fmt.Errorf("mDNS helper output %q: %v", out, err)
	}
	return res, nil
}

// mdnsLab is S1 with IPv4 too, and avahi-daemon publishing pi41's name on
// the island.
type mdnsLab struct {
	*s1
	pi     pi
	pi4    netip.Addr
	avahi  *netns.Proc
	config string
}

func buildMDNS(t *testing.T) *mdnsLab {
	s := buildS1(t, s1Params{
		lan:      netip.MustParsePrefix("2001:db8:6d:1::/64"),
		sub:      netip.MustParsePrefix("2001:db8:6d:1:4100::/72"),
		piBits:   80,
		pis:      1,
		ula:      netip.MustParsePrefix("fd6d:41::/64"),
		internet: netip.MustParseAddr("2001:db8:ffff:6d::1"),
	})
	l := &mdnsLab{s1: s, pi: s.pis[0], pi4: netip.MustParseAddr("10.41.0.41")}
	s.laptop.MustIP("-4", "addr", "add", "192.168.77.100/24", "dev", "eth0")
	s.gw.MustIP("-4", "addr", "add", "192.168.77.2/24", "dev", "wlan0")
	s.gw.MustIP("-4", "addr", "add", "10.41.0.1/24", "dev", "eth0")
	l.pi.MustIP("-4", "addr", "add", "10.41.0.41/24", "dev", "eth0")
	l.avahi = l.pi.Avahi("pi41", []string{"eth0"}, "", avahiService("_ssh._tcp", 22), avahiService("_http._tcp", 80))
	l.config = s.config() + "\nconfig mdns 'lan'\n\tlist interface 'wlan0'\n\tlist interface 'eth0'\n\tlist deny_service '_http._tcp'\n"
	return l
}

// avahiService is a service file publishing typ on port, as the instance
// "<host> <name>" ("pi41 ssh" for _ssh._tcp).
func avahiService(typ string, port int) string {
	name := strings.TrimPrefix(strings.Split(typ, ".")[0], "_")
	return fmt.Sprintf(`<?xml version="1.0" standalone='no'?>
<!DOCTYPE service-group SYSTEM "avahi-service.dtd">
<service-group>
  <name replace-wildcards="yes">%%h %s</name>
  <service><type>%s</type><port>%d</port></service>
</service-group>
`, name, typ, port)
}

// resolve asks from the laptop for pi41.local over IPv6 with q's settings
// until an answer comes, and returns the addresses in it.
func (l *mdnsLab) resolve(t *testing.T, d *daemon, q mdnsQuery) (mdnsResult, error) {
	t.Helper()
	q.Iface, q.Name = "eth0", "pi41.local"
	if q.Type == 0 {
		q.Type = 28
	}
	var res mdnsResult
	err := netns.Poll(10*time.Second, func() error {
		if err := d.running(); err != nil {
			return err
		}
		res = mdnsAsk(t, l.laptop, q)
		if len(res.addrs("pi41.local")) == 0 {
			return fmt.Errorf("no answer for pi41.local (%+v)", q)
		}
		return nil
	})
	return res, err
}

// checkAddrs fails unless addrs hold the pi's global address and none of its
// ULA and link-local ones.
func (l *mdnsLab) checkAddrs(t *testing.T, what string, addrs []netip.Addr) {
	t.Helper()
	if !slices.Contains(addrs, l.pi.addr) {
		t.Errorf("%s: %v, want the pi's global %v among them", what, addrs, l.pi.addr)
	}
	for _, a := range addrs {
		if a == l.pi.ula.Addr() || a.IsLinkLocalUnicast() {
			t.Errorf("%s: %v holds %v, which the laptop cannot reach", what, addrs, a)
		}
	}
}

// TestMDNSReflector is S1's mDNS line: avahi-daemon on pi41 publishes its
// ULA, its global /80 address and an IPv4 address; the laptop on the home LAN
// resolves pi41.local across the gateway and gets only what it can use.
func TestMDNSReflector(t *testing.T) {
	t.Parallel()
	l := buildMDNS(t)

	// The pi publishes the three: the filtering below is ndproxy's.
	local := mdnsAsk(t, l.gw, mdnsQuery{Iface: "eth0", Name: "pi41.local", Type: 28, SrcPort: 0, ID: 7})
	if got := local.addrs("pi41.local"); !slices.Contains(got, l.pi.ula.Addr()) || !slices.Contains(got, l.pi.addr) {
		t.Fatalf("bad lab: on the island, pi41.local is %v; want its ULA %v and global %v", got, l.pi.ula.Addr(), l.pi.addr)
	}
	for _, svc := range []string{"_ssh._tcp.local", "_http._tcp.local"} {
		// avahi publishes its services after its name.
		if err := netns.Poll(10*time.Second, func() error {
			if !mdnsAsk(t, l.gw, mdnsQuery{Iface: "eth0", Name: svc, Type: 12, SrcPort: 0, ID: 8}).has(svc, 12) {
				return fmt.Errorf("nobody offers %s", svc)
			}
			return nil
		}); err != nil {
			t.Fatalf("bad lab: on the island: %v\n%s", err, l.avahi.Log())
		}
	}

	d := newDaemon(t, l.gw, l.config)
	t.Run("without ndproxy no answer", func(t *testing.T) {
		res := mdnsAsk(t, l.laptop, mdnsQuery{Iface: "eth0", Name: "pi41.local", Type: 28, SrcPort: 5353, Count: 2, Every: 500 * time.Millisecond, Wait: 2 * time.Second})
		if got := res.addrs("pi41.local"); len(got) > 0 {
			t.Errorf("the laptop resolved pi41.local to %v without ndproxy", got)
		}
	})
	d.start()

	t.Run("query", func(t *testing.T) {
		res, err := l.resolve(t, d, mdnsQuery{SrcPort: 5353})
		if err != nil {
			t.Fatal(err)
		}
		l.checkAddrs(t, "pi41.local AAAA", res.addrs("pi41.local"))
		for _, rep := range res.Replies {
			if rep.Unicast || !strings.HasPrefix(rep.From, "[fe80:") || !strings.HasSuffix(rep.From, ":5353") || rep.HopLimit != 255 {
				t.Errorf("reply from %s (unicast %v, hop limit %d), want multicast from gw's link-local, port 5353, hop limit 255",
					rep.From, rep.Unicast, rep.HopLimit)
			}
		}
		// The address is one the laptop can use (the /80 is proxied).
		reach(t, d, l.laptop, l.pi.addr, l.pi.Name, 10*time.Second)
	})
	t.Run("QU query", func(t *testing.T) {
		res, err := l.resolve(t, d, mdnsQuery{SrcPort: 5353, QU: true})
		if err != nil {
			t.Fatal(err)
		}
		l.checkAddrs(t, "pi41.local AAAA, QU", res.addrs("pi41.local"))
	})
	t.Run("legacy unicast query", func(t *testing.T) {
		res, err := l.resolve(t, d, mdnsQuery{SrcPort: 0, ID: 0x4242})
		if err != nil {
			t.Fatal(err)
		}
		l.checkAddrs(t, "pi41.local AAAA, legacy", res.addrs("pi41.local"))
		for _, rep := range res.Replies {
			if !rep.Unicast || rep.ID != 0x4242 || !strings.HasSuffix(rep.From, ":5353") || rep.HopLimit != 255 {
				t.Errorf("legacy reply from %s, unicast %v, ID %#x, hop limit %d; want unicast from port 5353 with ID 0x4242, hop limit 255",
					rep.From, rep.Unicast, rep.ID, rep.HopLimit)
			}
			for _, r := range rep.Records {
				if r.CacheFlush {
					t.Errorf("legacy reply has a cache-flush bit on %s (RFC 6762 §6.7)", r.Name)
				}
			}
		}
	})
	t.Run("IPv4", func(t *testing.T) {
		res, err := l.resolve(t, d, mdnsQuery{SrcPort: 5353, V4: true, Type: 1})
		if err != nil {
			t.Fatal(err)
		}
		got := res.addrs("pi41.local")
		if !slices.Contains(got, l.pi4) {
			t.Errorf("pi41.local A over IPv4: %v, want %v", got, l.pi4)
		}
		for _, rep := range res.Replies {
			if rep.From != "192.168.77.2:5353" || rep.HopLimit != 255 {
				t.Errorf("IPv4 reply from %s with TTL %d, want from gw's 192.168.77.2:5353 with TTL 255", rep.From, rep.HopLimit)
			}
		}
		for _, a := range got {
			if a == l.pi.ula.Addr() {
				t.Errorf("pi41.local over IPv4: %v holds the ULA", got)
			}
		}
	})
	t.Run("services", func(t *testing.T) {
		// DNS-SD across: the pi's ssh service, and (deny_service) not
		// its web server.
		var res mdnsResult
		err := netns.Poll(10*time.Second, func() error {
			res = mdnsAsk(t, l.laptop, mdnsQuery{Iface: "eth0", Name: "_ssh._tcp.local", Type: 12, SrcPort: 5353})
			if !res.has("_ssh._tcp.local", 12) {
				return fmt.Errorf("no PTR for _ssh._tcp.local: %+v", res)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if !res.has("pi41 ssh._ssh._tcp.local", 33) {
			t.Errorf("the _ssh._tcp answer has no SRV record for the pi's instance: %+v", res)
		}
		if got := res.addrs("pi41.local"); slices.Contains(got, l.pi.ula.Addr()) {
			t.Errorf("the _ssh._tcp answer carries the pi's ULA: %v", got)
		}
		res = mdnsAsk(t, l.laptop, mdnsQuery{Iface: "eth0", Name: "_http._tcp.local", Type: 12, SrcPort: 5353, Count: 2, Every: time.Second, Wait: 2500 * time.Millisecond})
		if res.has("_http._tcp.local", 12) {
			t.Errorf("_http._tcp crossed although denied: %+v", res)
		}
	})
	t.Run("island link down and up", func(t *testing.T) {
		l.gw.SetLink("eth0", false)
		err := netns.Poll(5*time.Second, func() error {
			st, err := d.statusErr()
			if err == nil && (len(st.Reflectors) != 1 || st.Reflectors[0].State != "waiting" || st.Reflectors[0].Waiting["eth0"] != "eth0 is down") {
				err = fmt.Errorf("reflector %+v, want waiting for eth0, which is down", st.Reflectors)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := mdnsAsk(t, l.laptop, mdnsQuery{Iface: "eth0", Name: "pi41.local", Type: 28, SrcPort: 5353}).addrs("pi41.local"); len(got) > 0 {
			t.Errorf("pi41.local resolved to %v with gw's island link down", got)
		}
		l.gw.SetLink("eth0", true)
		res, err := l.resolve(t, d, mdnsQuery{SrcPort: 5353})
		if err != nil {
			t.Fatal(err)
		}
		l.checkAddrs(t, "pi41.local AAAA after the link came back", res.addrs("pi41.local"))
	})
	t.Run("malformed packets", func(t *testing.T) {
		for _, raw := range [][]byte{{1, 2, 3}, {0, 0, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0xc0, 12}} {
			mdnsAsk(t, l.laptop, mdnsQuery{Iface: "eth0", SrcPort: 5353, Raw: raw, Wait: 200 * time.Millisecond})
		}
		st := d.status(t)
		if len(st.Reflectors) != 1 || st.Reflectors[0].Counters == nil || st.Reflectors[0].Counters.Dropped["malformed"] < 2 {
			t.Errorf("malformed packets not counted: %+v", st.Reflectors)
		}
		if _, err := l.resolve(t, d, mdnsQuery{SrcPort: 5353}); err != nil {
			t.Errorf("after malformed packets: %v", err)
		}
	})
	d.stop() // exits 0, its sockets closed
}

// TestMDNSWithAvahiOnGateway runs an avahi-daemon (not a reflector) on the
// gateway next to ndproxy: both work, nothing bounces between them, no name
// conflict, and each record crosses at most once a second.
func TestMDNSWithAvahiOnGateway(t *testing.T) {
	t.Parallel()
	l := buildMDNS(t)
	d := newDaemon(t, l.gw, l.config)
	d.start()
	if err := netns.Poll(10*time.Second, func() error {
		if err := d.running(); err != nil {
			return err
		}
		st, err := d.statusErr()
		if err == nil && (len(st.Reflectors) != 1 || st.Reflectors[0].State != "running") {
			err = fmt.Errorf("reflector not running: %+v", st.Reflectors)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}

	// gw's avahi starts while the laptop listens: it announces gwav.local
	// on each link with that link's addresses. Those of the island must
	// not be carried over to the home LAN (and back).
	type result struct {
		res mdnsResult
		err error
	}
	heard := make(chan result, 1)
	go func() {
		res, err := mdnsRun(l.laptop, mdnsQuery{Iface: "eth0", SrcPort: 5353, Wait: 6 * time.Second})
		heard <- result{res, err}
	}()
	v4 := make(chan result, 1)
	go func() {
		res, err := mdnsRun(l.laptop, mdnsQuery{Iface: "eth0", V4: true, SrcPort: 5353, Wait: 6 * time.Second})
		v4 <- result{res, err}
	}()
	time.Sleep(500 * time.Millisecond)
	gwAvahi := l.gw.Avahi("gwav", []string{"wlan0", "eth0"}, "")
	island := []netip.Addr{netip.MustParseAddr("10.41.0.1"), host(l.ula, 1).Addr()}
	for _, ch := range []chan result{heard, v4} {
		r := <-ch
		if r.err != nil {
			t.Fatal(r.err)
		}
		got := r.res.addrs("gwav.local")
		if len(got) == 0 {
			t.Errorf("the laptop did not hear gw's avahi announce gwav.local")
		}
		for _, a := range got {
			if slices.Contains(island, a) {
				t.Errorf("gwav.local announced on the home LAN with its island address %v (%v)", a, got)
			}
		}
	}

	if _, err := l.resolve(t, d, mdnsQuery{SrcPort: 5353}); err != nil {
		t.Fatal(err)
	}
	// gw's own name, answered by its avahi on the home LAN.
	res := mdnsAsk(t, l.laptop, mdnsQuery{Iface: "eth0", Name: "gwav.local", Type: 28, SrcPort: 5353, Count: 2, Every: time.Second})
	if len(res.addrs("gwav.local")) == 0 {
		t.Errorf("gw's avahi does not answer for gwav.local on the home LAN")
	}

	// A query every 100 ms for 4 s: the pi answers many of them, and
	// each of its records reaches the home LAN at most once a second.
	res = mdnsAsk(t, l.laptop, mdnsQuery{Iface: "eth0", Name: "pi41.local", Type: 28, SrcPort: 5353,
		Count: 40, Every: 100 * time.Millisecond, Wait: 4500 * time.Millisecond})
	last := map[string]time.Duration{}
	copies := 0
	for _, rep := range res.Replies {
		for _, r := range rep.Records {
			if !strings.EqualFold(r.Name, "pi41.local.") || r.Addr == "" {
				continue
			}
			copies++
			k := r.Addr
			if at, ok := last[k]; ok && rep.At-at < 900*time.Millisecond {
				t.Errorf("%s %s reached the home LAN twice within %v", r.Name, r.Addr, rep.At-at)
			}
			last[k] = rep.At
		}
	}
	if copies == 0 || copies > 2*6 {
		t.Errorf("%d copies of pi41's address in 4.5 s, want between 1 and %d", copies, 2*6)
	}
	t.Logf("%d replies, %d copies of pi41's addresses in 4.5 s", len(res.Replies), copies)

	for _, p := range []*netns.Proc{gwAvahi, l.avahi} {
		if log := p.Log(); strings.Contains(strings.ToLower(log), "conflict") {
			t.Errorf("avahi-daemon saw a name conflict:\n%s", log)
		}
	}
	if st := d.status(t); len(st.Reflectors) == 1 && st.Reflectors[0].Counters != nil {
		t.Logf("ndproxy counters: %+v", *st.Reflectors[0].Counters)
	}
	d.stop()
}

// status reads the running ndproxy's status over its control socket.
func (d *daemon) status(t *testing.T) control.Status {
	t.Helper()
	st, err := d.statusErr()
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func (d *daemon) statusErr() (control.Status, error) {
	var st control.Status
	out, err := d.host.Run(d.bin, "status", "--json", "-s", d.sock)
	if err != nil {
		return st, fmt.Errorf("ndproxy status: %w", err)
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		return st, fmt.Errorf("ndproxy status --json: %w\n%s", err, out)
	}
	return st, nil
}
