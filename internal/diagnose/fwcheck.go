package diagnose

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/ndproxy/ndproxy/internal/icmp6"
)

// Addresses of the packets the firewall checks imagine.
var (
	// outside stands for any address beyond the upstream link.
	outside   = netip.MustParseAddr("2000::1")
	llRouter  = netip.MustParseAddr("fe80::1")
	llHost    = netip.MustParseAddr("fe80::2")
	allNodes  = netip.MustParseAddr("ff02::1")
	solicited = netip.MustParseAddr("ff02::1:ff00:2")
)

// ndKind is one kind of Neighbor Discovery packet on one interface, and what
// is lost when the firewall drops it.
type ndKind struct {
	hook  string
	icmp  int
	name  string
	lost  string
	onlyU bool // only on the upstream
	onlyD bool // only on a downstream
}

var ndKinds = []ndKind{
	{hook: "input", icmp: icmp6.TypeNA, name: "incoming Neighbor Advertisements", onlyD: true,
		lost: "ndproxy never hears the answers to its probes, and this host cannot resolve the hosts behind it"},
	{hook: "output", icmp: icmp6.TypeNS, name: "outgoing Neighbor Solicitations", onlyD: true,
		lost: "ndproxy's probes and the kernel's own solicitations never leave"},
	{hook: "input", icmp: icmp6.TypeNS, name: "incoming Neighbor Solicitations", onlyD: true,
		lost: "the hosts cannot resolve this router, their gateway"},
	{hook: "output", icmp: icmp6.TypeNA, name: "outgoing Neighbor Advertisements", onlyD: true,
		lost: "the hosts cannot resolve this router, their gateway"},
	{hook: "input", icmp: icmp6.TypeNS, name: "incoming Neighbor Solicitations", onlyU: true,
		lost: "the upstream router cannot resolve this host's own addresses (ndproxy reads solicitations for the proxied hosts before the firewall, but kernel proxy entries answer only through it)"},
	{hook: "input", icmp: icmp6.TypeNA, name: "incoming Neighbor Advertisements", onlyU: true,
		lost: "this host cannot resolve its router"},
	{hook: "output", icmp: icmp6.TypeNS, name: "outgoing Neighbor Solicitations", onlyU: true,
		lost: "this host cannot resolve its router"},
	{hook: "input", icmp: icmp6.TypeRA, name: "incoming Router Advertisements", onlyU: true,
		lost: "this host does not learn its default route and prefix from them"},
}

func (k ndKind) packet(dev string) Packet {
	p := Packet{Hook: k.hook, Proto: icmp6.Proto, ICMPType: k.icmp, HopLimit: 255, CtState: "untracked"}
	if k.hook == "input" {
		p.Iif, p.Src, p.Dst = dev, llRouter, llHost
	} else {
		p.Oif, p.Src, p.Dst = dev, llHost, llRouter
	}
	switch k.icmp {
	case icmp6.TypeNS:
		p.Dst = solicited
	case icmp6.TypeRA:
		p.Dst = allNodes
	}
	return p
}

// dropped runs p through every rule set: the first that surely drops it
// says where and by what, and how to let it through.
func (c *checker) dropped(p Packet, match string) (where, by, fix string, ok bool) {
	for _, rs := range c.s.Firewall {
		if where, by, ok := rs.Dropped(p); ok {
			m := match
			if rs.Tool == "ip6tables" {
				m = iptablesMatch(match)
			}
			return where, by, rs.acceptCommand(where, p, m), true
		}
	}
	return "", "", "", false
}

// iptablesMatch translates the few nft matches the fixes use.
func iptablesMatch(nft string) string {
	r := strings.NewReplacer(
		"icmpv6 type ", "-p ipv6-icmp --icmpv6-type ",
		"nd-neighbor-solicit", "135", "nd-neighbor-advert", "136", "nd-router-advert", "134",
		"ip6 daddr ", "-d ", "ip6 saddr ", "-s ",
		"ct state established,related", "-m conntrack --ctstate RELATED,ESTABLISHED",
		"ct state new", "-m conntrack --ctstate NEW",
	)
	return r.Replace(nft)
}

var icmpNftName = map[int]string{icmp6.TypeNS: "nd-neighbor-solicit", icmp6.TypeNA: "nd-neighbor-advert", icmp6.TypeRA: "nd-router-advert"}

// firewall: a filter that drops Neighbor Discovery breaks probing and the
// hosts' own resolution; one that drops what is forwarded to and from the
// proxied prefixes makes hosts that ndproxy answers for unreachable
// (pitfall 4 of the seeds: proxied traffic is forwarded, so only FORWARD
// rules see it).
func (c *checker) firewall() {
	if errs := c.s.FirewallErrors; len(errs) > 0 {
		fix := ""
		for _, e := range errs {
			if strings.Contains(e, "ermission denied") || strings.Contains(e, "not permitted") {
				fix = "run ndproxy check as root"
			}
		}
		c.add("firewall", Note, fix, "could not read the packet filter (%s): the firewall checks are incomplete",
			strings.ReplaceAll(strings.Join(errs, "; "), "\n", " "))
	}
	if len(c.s.Firewall) == 0 {
		return
	}
	var ups, downs []string
	for _, p := range c.cfg.Proxies {
		e := c.engines[p.Name]
		if e == nil {
			continue
		}
		if !slices.Contains(ups, e.Upstream.Name) {
			ups = append(ups, e.Upstream.Name)
		}
		for _, l := range e.Downstreams {
			if !slices.Contains(downs, l.Name) {
				downs = append(downs, l.Name)
			}
		}
	}
	var clean []string
	for _, dev := range append(slices.Clone(ups), downs...) {
		isUp, isDown := slices.Contains(ups, dev), slices.Contains(downs, dev)
		var lost, fixes []string
		var where []string
		for _, k := range ndKinds {
			if (k.onlyU && !isUp) || (k.onlyD && !isDown) {
				continue
			}
			w, by, fix, ok := c.dropped(k.packet(dev), "icmpv6 type "+icmpNftName[k.icmp])
			if !ok {
				continue
			}
			lost = append(lost, fmt.Sprintf("%s (%s, %s): %s", k.name, w, by, k.lost))
			if !slices.Contains(fixes, fix) {
				fixes = append(fixes, fix)
			}
			where = append(where, w)
		}
		if len(lost) == 0 {
			clean = append(clean, dev)
			continue
		}
		c.add("firewall", Problem, strings.Join(fixes, "; ")+"; then save the rules where your firewall keeps them",
			"the firewall drops neighbour discovery on %s: %s", dev, strings.Join(lost, "; "))
	}
	if len(clean) > 0 {
		c.add("firewall", OK, "", "the firewall lets neighbour discovery through on %s", strings.Join(clean, " "))
	}

	for _, p := range c.cfg.Proxies {
		e := c.engines[p.Name]
		if e == nil {
			continue
		}
		up := e.Upstream.Name
		var downs []string
		for _, l := range e.Downstreams {
			downs = append(downs, l.Name)
		}
		if len(downs) == 0 {
			// verify static or auto without a downstream: the hosts are
			// wherever the routing table says.
			for _, q := range e.Prefixes {
				if r, ok := lookup(c.s.Routes, q); ok && r.Dev != up && !slices.Contains(downs, r.Dev) {
					downs = append(downs, r.Dev)
				}
			}
		}
		for _, q := range e.Prefixes {
			h := q.Addr()
			if q.Bits() < 128 {
				h = h.Next()
			}
			for _, down := range downs {
				c.forwarding(p.Name, q, h, up, down)
			}
		}
	}
}

// forwarding checks the traffic of the hosts of q (h is one of them) between
// up and down.
func (c *checker) forwarding(name string, q netip.Prefix, h netip.Addr, up, down string) {
	in := Packet{Hook: "forward", Iif: up, Oif: down, Src: outside, Dst: h, Proto: protoTCP, HopLimit: 64}
	out := Packet{Hook: "forward", Iif: down, Oif: up, Src: h, Dst: outside, Proto: protoTCP, HopLimit: 64, CtState: "new"}
	reply, newIn := in, in
	reply.CtState, newIn.CtState = "established", "new"

	problems := 0
	if w, by, fix, ok := c.dropped(reply, fmt.Sprintf("ip6 daddr %s ct state established,related", q)); ok {
		problems++
		c.add("firewall", Problem, fix+"; then save the rules where your firewall keeps them",
			"the firewall drops what is forwarded from %s to the hosts of %s on %s, even replies (%s, %s): proxy %s answers for hosts that then cannot be reached",
			up, q, down, w, by, name)
	}
	if w, by, fix, ok := c.dropped(out, fmt.Sprintf("ip6 saddr %s", q)); ok {
		problems++
		c.add("firewall", Problem, fix+"; then save the rules where your firewall keeps them",
			"the firewall drops what the hosts of %s on %s send out %s (%s, %s): they cannot reach anything beyond this host",
			q, down, up, w, by)
	}
	if problems > 0 {
		return
	}
	if w, by, fix, ok := c.dropped(newIn, fmt.Sprintf("ip6 daddr %s ct state new", q)); ok {
		c.add("firewall", Note, "if they should be reachable from outside: "+fix,
			"the firewall lets replies through to the hosts of %s on %s but drops new connections to them from %s (%s, %s): a policy choice, but ssh to them from outside will not work",
			q, down, up, w, by)
		return
	}
	c.add("firewall", OK, "", "the firewall forwards between %s and the hosts of %s on %s", up, q, down)
}
