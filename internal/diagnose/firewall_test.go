package diagnose

import (
	"os"
	"strings"
	"testing"

	"github.com/ndproxy/ndproxy/internal/icmp6"
)

// ns and na are Neighbor Discovery packets as the firewall checks make them.
func nd(hook string, icmp int, dev string) Packet {
	return ndKind{hook: hook, icmp: icmp}.packet(dev)
}

func fwd(iif, oif, dst, state string) Packet {
	return Packet{Hook: "forward", Iif: iif, Oif: oif, Src: outside, Dst: ip(dst), Proto: protoTCP, HopLimit: 64, CtState: state}
}

func TestDroppedNft(t *testing.T) {
	// testdata/nft-inet.nft, read back from the kernel by nft -j.
	rs := readRuleset(t, "nft-inet.json")
	for _, tc := range []struct {
		name    string
		p       Packet
		dropped bool
		where   string
		by      string
	}{
		{"NA on eth0: a set of ND types with hop limit 255", nd("input", icmp6.TypeNA, "eth0"), false, "", ""},
		{"NS on br-lan: a wildcard name", nd("input", icmp6.TypeNS, "br-lan"), false, "", ""},
		{"NS on wlan0: a limit, then a verdict map", nd("input", icmp6.TypeNS, "wlan0"), false, "", ""},
		{"NS with hop limit 64 on eth9: the limit may let it in", func() Packet {
			p := nd("input", icmp6.TypeNS, "eth9")
			p.HopLimit = 64
			return p
		}(), false, "", ""},
		{"TCP to 2001:db8::1 from a global address: the vmap may accept it",
			Packet{Hook: "input", Iif: "eth0", Src: outside, Dst: ip("2001:db8::1"), Proto: protoTCP, HopLimit: 64, CtState: "new"}, false, "", ""},
		{"output: no rules, policy accept", nd("output", icmp6.TypeNS, "eth0"), false, "", ""},
		{"forwarded reply to the /76", fwd("wlan0", "eth0", "2001:db8:abc:123:41::1", "established"), false, "", ""},
		{"forwarded reply outside the /76", fwd("wlan0", "eth0", "2001:db8:abc:123::1", "established"), true, "nft inet filter forward", "policy drop"},
		{"new connection to the /76", fwd("wlan0", "eth0", "2001:db8:abc:123:41::1", "new"), true, "nft inet filter forward", "policy drop"},
		{"out wlan0: goto a chain that returns, then the policy", fwd("eth0", "wlan0", "2000::1", "new"), true, "nft inet filter forward", "policy drop"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			where, by, dropped := rs.Dropped(tc.p)
			if dropped != tc.dropped || where != tc.where || by != tc.by {
				t.Errorf("Dropped = %q, %q, %v; want %q, %q, %v", where, by, dropped, tc.where, tc.by, tc.dropped)
			}
		})
	}
}

func TestDroppedIP6tables(t *testing.T) {
	rs := readRuleset(t, "ip6tables-docker.save")
	for _, tc := range []struct {
		name    string
		p       Packet
		dropped bool
		by      string
	}{
		{"ICMPv6 in: accepted before the final drop", nd("input", icmp6.TypeNS, "eth0"), false, ""},
		{"TCP in, new, port unknown: may be ssh", Packet{Hook: "input", Iif: "eth0", Src: outside, Dst: ip("2001:db8::1"), Proto: protoTCP, CtState: "new"}, false, ""},
		{"UDP in, new", Packet{Hook: "input", Iif: "eth0", Src: outside, Dst: ip("2001:db8::1"), Proto: 17, CtState: "new"}, true, "rule -A INPUT -j DROP"},
		{"forward: back from DOCKER-USER, then the policy", fwd("wlan0", "eth1", "2001:db8::1", "established"), true, "policy drop"},
		{"forward: replies to docker0", fwd("wlan0", "docker0", "2001:db8::1", "established"), false, ""},
		{"forward: docker0 out", fwd("docker0", "wlan0", "2000::1", "new"), false, ""},
		{"NS out eth1: rejected", nd("output", icmp6.TypeNS, "eth1"), true, `rule -A OUTPUT -o eth1 -p ipv6-icmp -m icmp6 --icmpv6-type 135 -m comment --comment "no \"probes\" here" -j REJECT --reject-with icmp6-adm-prohibited`},
		{"NA out eth1", nd("output", icmp6.TypeNA, "eth1"), false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, by, dropped := rs.Dropped(tc.p)
			if dropped != tc.dropped || by != tc.by {
				t.Errorf("Dropped = %q, %v; want %q, %v", by, dropped, tc.by, tc.dropped)
			}
		})
	}
}

// TestIptablesNftView: iptables-nft's rules seen through nft show their
// conntrack match as "xt"; that view must never be surer than the truth.
func TestIptablesNftView(t *testing.T) {
	rs := readRuleset(t, "ip6tables-docker.nft.json")
	if _, _, dropped := rs.Dropped(fwd("wlan0", "docker0", "2001:db8::1", "established")); dropped {
		t.Error("a reply to docker0 is accepted by an xt conntrack match nft cannot show, but was judged dropped")
	}
	if _, by, dropped := rs.Dropped(Packet{Hook: "input", Iif: "eth0", Src: outside, Dst: ip("2001:db8::1"), Proto: 17, CtState: "established"}); dropped {
		t.Errorf("an established UDP packet may be accepted by the xt conntrack match, but was judged dropped by %s", by)
	}
}

func TestRulesetEdges(t *testing.T) {
	loop := &Ruleset{Tool: "nftables", Chains: []*Chain{
		{Family: "inet", Table: "t", Name: "in", Hook: "input", Drop: true, Rules: []Rule{{Verdict: Jump, Target: "a"}}},
		{Family: "inet", Table: "t", Name: "a", Rules: []Rule{{Verdict: Jump, Target: "a"}}},
		{Family: "ip", Table: "v4", Name: "in", Hook: "input", Drop: true},
		{Family: "bridge", Table: "b", Name: "in", Hook: "input", Drop: true},
	}}
	if _, _, dropped := loop.Dropped(nd("input", icmp6.TypeNS, "eth0")); dropped {
		t.Error("a jump loop was judged; it must stay undecided")
	}
	loop.Chains = loop.Chains[2:]
	if _, _, dropped := loop.Dropped(nd("input", icmp6.TypeNS, "eth0")); dropped {
		t.Error("ip and bridge tables do not see IPv6 packets in the input hook")
	}

	many := &Ruleset{Tool: "nftables"}
	c := &Chain{Family: "inet", Table: "t", Name: "in", Hook: "input", Drop: true}
	for i := 0; i < 200; i++ {
		// Rules that may or may not match, each jumping: linear with the
		// memo, 2^200 without.
		c.Rules = append(c.Rules, Rule{Conds: []Cond{{Field: FieldOpaque}}, Verdict: Jump, Target: "r"})
	}
	many.Chains = []*Chain{c, {Family: "inet", Table: "t", Name: "r", Rules: []Rule{{Verdict: Return}}}}
	if _, _, dropped := many.Dropped(nd("input", icmp6.TypeNS, "eth0")); !dropped {
		t.Error("every path ends at the drop policy")
	}
}

func TestParseErrors(t *testing.T) {
	for _, bad := range []string{"{", `{"nftables": [{"rule": {"family": "inet", "table": "t", "chain": "missing"}}]}`} {
		if _, err := ParseNft([]byte(bad)); err == nil {
			t.Errorf("ParseNft(%q) succeeded", bad)
		}
	}
	for _, bad := range []string{"*filter\n-A NOPE -j DROP\n", "*filter\n:INPUT\n", "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m comment --comment \"open\n", "*filter\nnonsense\n"} {
		if _, err := ParseIP6tablesSave([]byte(bad)); err == nil {
			t.Errorf("ParseIP6tablesSave(%q) succeeded", bad)
		}
	}
	rs, err := ParseIP6tablesSave([]byte("*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -j DNAT\nCOMMIT\n*filter\n:INPUT DROP [0:0]\nCOMMIT\n"))
	if err != nil || len(rs.Chains) != 1 || rs.Chains[0].Name != "INPUT" || !rs.Chains[0].Drop {
		t.Errorf("only the filter table is kept: %+v, %v", rs, err)
	}
}

func FuzzParseNft(f *testing.F) {
	for _, name := range []string{"nft-inet.json", "ip6tables-docker.nft.json"} {
		data, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, err := ParseNft(data)
		if err == nil {
			rs.Dropped(nd("input", icmp6.TypeNS, "eth0"))
			rs.Dropped(fwd("wlan0", "eth0", "2001:db8::1", "new"))
		}
	})
}

func FuzzParseIP6tablesSave(f *testing.F) {
	data, err := os.ReadFile("testdata/ip6tables-docker.save")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte(strings.Replace(string(data), "-j DOCKER-USER", "-g DOCKER-USER", 1)))
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, err := ParseIP6tablesSave(data)
		if err == nil {
			rs.Dropped(nd("output", icmp6.TypeNS, "eth1"))
			rs.Dropped(fwd("wlan0", "eth1", "2001:db8::1", "established"))
		}
	})
}
