package diagnose

import (
	"encoding/json"
	"fmt"
	"strings"
)

// ParseNft reads the output of `nft -j list ruleset` (libnftables JSON,
// schema version 1). Only what decides an IPv6 packet's fate in the input,
// output and forward hooks is kept; an expression this parser does not know
// makes its rule one that may or may not match, never one that surely does.
func ParseNft(data []byte) (*Ruleset, error) {
	var doc struct {
		Nftables []map[string]json.RawMessage `json:"nftables"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("nft -j: %w", err)
	}
	rs := &Ruleset{Tool: "nftables"}
	type chainJSON struct {
		Family string `json:"family"`
		Table  string `json:"table"`
		Name   string `json:"name"`
		Hook   string `json:"hook"`
		Policy string `json:"policy"`
	}
	type ruleJSON struct {
		Family  string            `json:"family"`
		Table   string            `json:"table"`
		Chain   string            `json:"chain"`
		Handle  int               `json:"handle"`
		Comment string            `json:"comment"`
		Expr    []json.RawMessage `json:"expr"`
	}
	for _, obj := range doc.Nftables {
		if raw, ok := obj["chain"]; ok {
			var c chainJSON
			if err := json.Unmarshal(raw, &c); err != nil {
				return nil, fmt.Errorf("nft -j: chain: %w", err)
			}
			rs.Chains = append(rs.Chains, &Chain{
				Family: c.Family, Table: c.Table, Name: c.Name,
				Hook: c.Hook, Drop: c.Policy == "drop",
			})
		}
		if raw, ok := obj["rule"]; ok {
			var r ruleJSON
			if err := json.Unmarshal(raw, &r); err != nil {
				return nil, fmt.Errorf("nft -j: rule: %w", err)
			}
			c := rs.chain(r.Family, r.Table, r.Chain)
			if c == nil {
				return nil, fmt.Errorf("nft -j: rule %d of unknown chain %s %s %s", r.Handle, r.Family, r.Table, r.Chain)
			}
			rule := Rule{Text: fmt.Sprintf("handle %d", r.Handle)}
			if r.Comment != "" {
				rule.Text += fmt.Sprintf(" (%s)", r.Comment)
			}
			for _, e := range r.Expr {
				nftExpr(&rule, e)
			}
			c.Rules = append(c.Rules, rule)
		}
	}
	return rs, nil
}

// nftExpr adds one statement of a rule to r.
func nftExpr(r *Rule, raw json.RawMessage) {
	var e map[string]json.RawMessage
	if err := json.Unmarshal(raw, &e); err != nil || len(e) != 1 {
		r.Conds = append(r.Conds, Cond{Field: FieldOpaque})
		return
	}
	for kind, body := range e {
		switch kind {
		case "match":
			r.Conds = append(r.Conds, nftMatch(body)...)
		case "accept":
			r.Verdict = Accept
		case "drop", "reject":
			r.Verdict = Drop
		case "return":
			r.Verdict = Return
		case "continue":
			r.Verdict = Continue
		case "jump", "goto":
			var t struct {
				Target string `json:"target"`
			}
			if json.Unmarshal(body, &t) != nil {
				r.Verdict = Unknown
				return
			}
			r.Verdict, r.Target = Jump, t.Target
			if kind == "goto" {
				r.Verdict = Goto
			}
		case "counter", "log", "comment", "notrack", "mangle", "meta", "ct", "set", "quota":
			// Statements that leave the verdict alone. ("meta" and "ct" as
			// statements set a mark; a quota over its limit stops matching,
			// but that needs traffic first.)
		case "limit":
			// Matches until the rate is exceeded: it may not match.
			r.Conds = append(r.Conds, Cond{Field: FieldOpaque})
		default:
			// vmap, queue, xt (iptables-nft's compat matches and targets)
			// and anything newer: the packet may go either way.
			r.Conds = append(r.Conds, Cond{Field: FieldOpaque})
			r.Verdict = Unknown
		}
	}
}

// nftMatch turns a match expression into conditions.
func nftMatch(raw json.RawMessage) []Cond {
	var m struct {
		Op    string          `json:"op"`
		Left  json.RawMessage `json:"left"`
		Right json.RawMessage `json:"right"`
	}
	opaque := []Cond{{Field: FieldOpaque}}
	if json.Unmarshal(raw, &m) != nil {
		return opaque
	}
	var not bool
	switch m.Op {
	case "==", "in":
	case "!=":
		not = true
	default:
		// <, >, & and friends.
		return opaque
	}
	var left struct {
		Meta *struct {
			Key string `json:"key"`
		} `json:"meta"`
		Payload *struct {
			Protocol string `json:"protocol"`
			Field    string `json:"field"`
		} `json:"payload"`
		Ct *struct {
			Key string `json:"key"`
		} `json:"ct"`
	}
	if json.Unmarshal(m.Left, &left) != nil {
		return opaque
	}
	vals, ok := nftValues(m.Right)
	if !ok {
		return opaque
	}
	cond := func(f Field, vals []string) []Cond { return []Cond{{Field: f, Not: not, Values: vals}} }
	switch {
	case left.Meta != nil:
		switch left.Meta.Key {
		case "l4proto":
			return cond(FieldProto, numeric(vals, protocols))
		case "iifname", "iif":
			return cond(FieldIif, vals)
		case "oifname", "oif":
			return cond(FieldOif, vals)
		case "nfproto":
			return cond(FieldNFProto, vals)
		}
	case left.Ct != nil && left.Ct.Key == "state":
		return cond(FieldCtState, vals)
	case left.Payload != nil:
		p := left.Payload
		switch {
		case p.Protocol == "ip6" && p.Field == "saddr":
			return cond(FieldSrc, vals)
		case p.Protocol == "ip6" && p.Field == "daddr":
			return cond(FieldDst, vals)
		case p.Protocol == "ip6" && p.Field == "nexthdr":
			return cond(FieldProto, numeric(vals, protocols))
		case p.Protocol == "ip6" && p.Field == "hoplimit":
			return cond(FieldHopLimit, vals)
		case p.Protocol == "icmpv6" && p.Field == "type":
			return cond(FieldICMPType, numeric(vals, icmpTypes))
		}
		// A field of a transport header implies its protocol (nft adds the
		// dependency itself and does not print it): a packet of another
		// protocol does not match, whatever the field.
		if n, ok := protocols[p.Protocol]; ok {
			return []Cond{{Field: FieldProto, Values: []string{fmt.Sprint(n)}}, {Field: FieldOpaque}}
		}
		if p.Protocol == "ip" {
			// An IPv4 header field in an inet table: never an IPv6 packet.
			return []Cond{{Field: FieldNFProto, Values: []string{"ipv4"}}}
		}
	}
	return opaque
}

// nftValues reads the right side of a match: a value, a list, an anonymous
// set, a prefix or a range. Named sets (@name) are not read.
func nftValues(raw json.RawMessage) ([]string, bool) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if strings.HasPrefix(s, "@") || strings.HasPrefix(s, "$") {
			return nil, false
		}
		return []string{s}, true
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return []string{n.String()}, true
	}
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) == nil {
		return nftList(list)
	}
	var obj struct {
		Set    []json.RawMessage `json:"set"`
		Prefix *struct {
			Addr string `json:"addr"`
			Len  int    `json:"len"`
		} `json:"prefix"`
		Range []json.RawMessage `json:"range"`
	}
	if json.Unmarshal(raw, &obj) != nil {
		return nil, false
	}
	switch {
	case obj.Set != nil:
		return nftList(obj.Set)
	case obj.Prefix != nil:
		return []string{fmt.Sprintf("%s/%d", obj.Prefix.Addr, obj.Prefix.Len)}, true
	case len(obj.Range) == 2:
		lo, ok1 := nftValues(obj.Range[0])
		hi, ok2 := nftValues(obj.Range[1])
		if !ok1 || !ok2 || len(lo) != 1 || len(hi) != 1 {
			return nil, false
		}
		return []string{lo[0] + "-" + hi[0]}, true
	}
	return nil, false
}

func nftList(list []json.RawMessage) ([]string, bool) {
	var out []string
	for _, e := range list {
		v, ok := nftValues(e)
		if !ok {
			return nil, false
		}
		out = append(out, v...)
	}
	return out, true
}
