package diagnose

import (
	"fmt"
	"net/netip"
	"path"
	"slices"
	"strings"

	"github.com/ndproxy/ndproxy/internal/icmp6"
)

// A Ruleset is one tool's view of the packet filter: nftables (`nft -j list
// ruleset`) or ip6tables (`ip6tables-save`). With iptables-nft both views
// show the same rules; a packet is judged dropped only when one view is sure
// of it, so seeing a rule twice does no harm.
type Ruleset struct {
	// Tool is "nftables" or "ip6tables".
	Tool   string
	Chains []*Chain
}

// A Chain is a list of rules, hooked into the IPv6 stack (a base chain) or
// reached by jumps.
type Chain struct {
	// Family is the nftables family (ip6, inet); "ip6" for ip6tables.
	Family, Table, Name string
	// Hook is input, output or forward for a base chain, "" otherwise.
	Hook string
	// Drop is the base chain's policy: true for drop.
	Drop  bool
	Rules []Rule
}

// A Rule is a conjunction of conditions and what happens when they all hold.
type Rule struct {
	Conds []Cond
	// Verdict is accept, drop, jump, goto, return, continue (none: a counter
	// or a log), or unknown (a verdict map, a queue, a target this package
	// does not know: it may end the chain either way).
	Verdict Verdict
	// Target is the chain of a jump or goto.
	Target string
	// Text shows the rule in its tool's words, for findings.
	Text string
}

// Verdict is what a matching rule does with a packet.
type Verdict int

const (
	Continue Verdict = iota
	Accept
	Drop
	Jump
	Goto
	Return
	Unknown
)

// A Cond is one condition of a rule.
type Cond struct {
	Field Field
	// Not negates the condition.
	Not bool
	// Values are what the field is compared with: interface names (with a
	// trailing * or + as a wildcard), prefixes, numbers, ct states.
	Values []string
}

// Field is what a condition looks at.
type Field int

const (
	// FieldOpaque is anything this package does not model: the rule may or
	// may not match.
	FieldOpaque   Field = iota
	FieldProto          // layer 4 protocol number
	FieldICMPType       // ICMPv6 type number
	FieldIif            // input interface name
	FieldOif            // output interface name
	FieldSrc            // source prefix
	FieldDst            // destination prefix
	FieldCtState        // new, established, related, invalid, untracked
	FieldHopLimit       // hop limit, a number
	FieldNFProto        // ipv4 or ipv6 (inet tables)
)

// Packet is a packet the checks send through the rules in thought.
type Packet struct {
	Hook     string // input, output, forward
	Iif, Oif string
	Src, Dst netip.Addr
	Proto    int // 58 ICMPv6, 6 TCP
	ICMPType int
	HopLimit int
	// CtState is the packet's conntrack state. Neighbour Discovery is never
	// tracked: nf_conntrack marks it untracked (nf_conntrack_proto_icmpv6.c).
	CtState string
}

const (
	protoTCP = 6
)

// tri is a three-valued truth: a rule this package cannot read may match.
type tri int

const (
	no tri = iota
	maybe
	yes
)

func (c Cond) match(p Packet) tri {
	r := c.matchPositive(p)
	if c.Not && r != maybe {
		r = yes - r
	}
	return r
}

func (c Cond) matchPositive(p Packet) tri {
	any := func(f func(v string) tri) tri {
		best := no
		for _, v := range c.Values {
			best = max(best, f(v))
		}
		return best
	}
	num := func(have int) tri {
		return any(func(v string) tri {
			lo, hi, ok := parseRange(v)
			if !ok {
				return maybe
			}
			return boolTri(lo <= have && have <= hi)
		})
	}
	iface := func(have string) tri {
		return any(func(v string) tri {
			if have == "" {
				return maybe
			}
			if w, ok := strings.CutSuffix(v, "+"); ok {
				v = w + "*"
			}
			m, err := path.Match(v, have)
			if err != nil {
				return maybe
			}
			return boolTri(m)
		})
	}
	addr := func(have netip.Addr) tri {
		return any(func(v string) tri {
			if !have.IsValid() {
				return maybe
			}
			if a, err := netip.ParseAddr(v); err == nil {
				return boolTri(a == have)
			}
			pr, err := netip.ParsePrefix(v)
			if err != nil {
				return maybe
			}
			return boolTri(pr.Contains(have))
		})
	}
	switch c.Field {
	case FieldProto:
		return num(p.Proto)
	case FieldICMPType:
		if p.Proto != icmp6.Proto {
			return no
		}
		return num(p.ICMPType)
	case FieldHopLimit:
		return num(p.HopLimit)
	case FieldIif:
		return iface(p.Iif)
	case FieldOif:
		return iface(p.Oif)
	case FieldSrc:
		return addr(p.Src)
	case FieldDst:
		return addr(p.Dst)
	case FieldCtState:
		return any(func(v string) tri { return boolTri(v == p.CtState) })
	case FieldNFProto:
		return any(func(v string) tri { return boolTri(v == "ipv6") })
	}
	return maybe
}

func boolTri(b bool) tri {
	if b {
		return yes
	}
	return no
}

// parseRange reads "N" or "N-M".
func parseRange(v string) (lo, hi int, ok bool) {
	a, b, isRange := strings.Cut(v, "-")
	if _, err := fmt.Sscan(a, &lo); err != nil {
		return 0, 0, false
	}
	hi = lo
	if isRange {
		if _, err := fmt.Sscan(b, &hi); err != nil {
			return 0, 0, false
		}
	}
	return lo, hi, true
}

func (r Rule) match(p Packet) tri {
	t := yes
	for _, c := range r.Conds {
		t = min(t, c.match(p))
		if t == no {
			break
		}
	}
	return t
}

// outcome is the set of ways a chain can end for a packet.
type outcome struct {
	accept, drop, ret bool
	// by names the first rule or policy that certainly dropped the packet.
	by string
}

func (o *outcome) union(b outcome) {
	o.accept = o.accept || b.accept
	o.drop = o.drop || b.drop
	o.ret = o.ret || b.ret
	if o.by == "" {
		o.by = b.by
	}
}

// maxDepth bounds jumps; deeper (or looping) rule sets are not judged.
const maxDepth = 16

// walk runs one packet through the chains of a rule set. It remembers what
// each position in a chain leads to, so that rules that may or may not
// match (each splits the walk in two) cost linear time.
type walk struct {
	rs   *Ruleset
	p    Packet
	memo map[position]outcome
}

type position struct {
	c *Chain
	i int
}

// from runs the packet through chain c from rule i on.
func (w *walk) from(c *Chain, i int, depth int) outcome {
	if depth > maxDepth {
		return outcome{accept: true, drop: true}
	}
	if o, ok := w.memo[position{c, i}]; ok {
		return o
	}
	o := w.fromUncached(c, i, depth)
	w.memo[position{c, i}] = o
	return o
}

func (w *walk) fromUncached(c *Chain, i int, depth int) outcome {
	for ; i < len(c.Rules); i++ {
		r := c.Rules[i]
		m := r.match(w.p)
		if m == no || r.Verdict == Continue {
			continue
		}
		var hit outcome
		switch r.Verdict {
		case Accept:
			hit = outcome{accept: true}
		case Drop:
			hit = outcome{drop: true, by: "rule " + r.Text}
		case Return:
			hit = outcome{ret: true}
		case Jump, Goto:
			target := w.rs.chain(c.Family, c.Table, r.Target)
			if target == nil {
				hit = outcome{accept: true, drop: true}
				break
			}
			hit = w.from(target, 0, depth+1)
			if hit.ret && r.Verdict == Jump {
				// Back from the jump: go on after the rule.
				rest := w.from(c, i+1, depth)
				hit.ret = false
				if hit.accept || hit.drop {
					hit.union(rest)
				} else {
					hit = rest
				}
			}
		default:
			hit = outcome{accept: true, drop: true}
		}
		if m == yes {
			return hit
		}
		// The rule may or may not match: both paths are possible.
		hit.union(w.from(c, i+1, depth))
		return hit
	}
	return outcome{ret: true}
}

func (rs *Ruleset) chain(family, table, name string) *Chain {
	for _, c := range rs.Chains {
		if c.Family == family && c.Table == table && c.Name == name {
			return c
		}
	}
	return nil
}

// Dropped reports whether the rule set certainly drops p, and names the
// base chain and the rule (or policy) that does. A packet that some rule
// this package cannot read might let through is not dropped.
func (rs *Ruleset) Dropped(p Packet) (where, by string, dropped bool) {
	for _, c := range rs.Chains {
		if c.Hook != p.Hook || !familySeesIPv6(c.Family) {
			continue
		}
		w := &walk{rs: rs, p: p, memo: map[position]outcome{}}
		o := w.from(c, 0, 0)
		if o.ret {
			// The end of a base chain: its policy decides.
			o.ret = false
			if c.Drop {
				o.drop = true
				if !o.accept && o.by == "" {
					o.by = "policy drop"
				}
			} else {
				o.accept = true
			}
		}
		if o.drop && !o.accept {
			return rs.chainName(c), o.by, true
		}
	}
	return "", "", false
}

// chainName names c as its tool does.
func (rs *Ruleset) chainName(c *Chain) string {
	if rs.Tool == "ip6tables" {
		return fmt.Sprintf("ip6tables -t %s %s", c.Table, c.Name)
	}
	return fmt.Sprintf("nft %s %s %s", c.Family, c.Table, c.Name)
}

func familySeesIPv6(f string) bool { return f == "ip6" || f == "inet" }

// acceptCommand is the command that lets p through the base chain where
// (as Dropped names it) of rs.
func (rs *Ruleset) acceptCommand(where string, p Packet, match string) string {
	var c *Chain
	for _, ch := range rs.Chains {
		if rs.chainName(ch) == where {
			c = ch
		}
	}
	if c == nil {
		return ""
	}
	if rs.Tool == "ip6tables" {
		var b strings.Builder
		fmt.Fprintf(&b, "ip6tables -t %s -I %s", c.Table, c.Name)
		if p.Iif != "" && p.Hook != "output" {
			fmt.Fprintf(&b, " -i %s", p.Iif)
		}
		if p.Oif != "" && p.Hook != "input" {
			fmt.Fprintf(&b, " -o %s", p.Oif)
		}
		fmt.Fprintf(&b, " %s -j ACCEPT", match)
		return b.String()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "nft insert rule %s %s %s", c.Family, c.Table, c.Name)
	if p.Iif != "" && p.Hook != "output" {
		fmt.Fprintf(&b, " iifname %q", p.Iif)
	}
	if p.Oif != "" && p.Hook != "input" {
		fmt.Fprintf(&b, " oifname %q", p.Oif)
	}
	fmt.Fprintf(&b, " %s accept", match)
	return b.String()
}

// icmpTypes maps the names nft and ip6tables give ICMPv6 types to numbers.
var icmpTypes = map[string]int{
	"destination-unreachable": 1, "packet-too-big": 2, "time-exceeded": 3, "parameter-problem": 4,
	"echo-request": 128, "echo-reply": 129,
	"mld-listener-query": 130, "mld-listener-report": 131, "mld-listener-done": 132, "mld-listener-reduction": 132,
	"nd-router-solicit": 133, "router-solicitation": 133,
	"nd-router-advert": 134, "router-advertisement": 134,
	"nd-neighbor-solicit": 135, "neighbour-solicitation": 135, "neighbor-solicitation": 135,
	"nd-neighbor-advert": 136, "neighbour-advertisement": 136, "neighbor-advertisement": 136,
	"nd-redirect": 137, "redirect": 137,
	"router-renumbering": 138, "ind-neighbor-solicit": 141, "ind-neighbor-advert": 142,
	"mld2-listener-report": 143,
}

// protocols maps protocol names to numbers.
var protocols = map[string]int{
	"tcp": 6, "udp": 17, "ipv6-icmp": 58, "icmpv6": 58, "icmp6": 58, "sctp": 132, "udplite": 136,
	"esp": 50, "ah": 51, "gre": 47, "icmp": 1,
}

// numeric turns names into numbers with table, leaving numbers, ranges and
// unknown names (which then match maybe) as they are.
func numeric(vals []string, table map[string]int) []string {
	out := make([]string, 0, len(vals))
	for _, v := range vals {
		if n, ok := table[strings.ToLower(v)]; ok {
			v = fmt.Sprint(n)
		}
		out = append(out, v)
	}
	return slices.Compact(out)
}
