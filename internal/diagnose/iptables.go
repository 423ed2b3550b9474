package diagnose

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
)

// ParseIP6tablesSave reads the output of `ip6tables-save`. Only the filter
// table is kept: it is where policies drop. A match this parser does not know
// makes its rule one that may or may not match.
func ParseIP6tablesSave(data []byte) (*Ruleset, error) {
	rs := &Ruleset{Tool: "ip6tables"}
	table := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "*"):
			table = line[1:]
		case line == "COMMIT":
			table = ""
		case table != "filter":
		case strings.HasPrefix(line, ":"):
			// :NAME POLICY [packets:bytes]; POLICY is "-" for a user chain.
			f := strings.Fields(line[1:])
			if len(f) < 2 {
				return nil, fmt.Errorf("ip6tables-save: line %d: bad chain %q", n, line)
			}
			c := &Chain{Family: "ip6", Table: table, Name: f[0], Drop: f[1] == "DROP"}
			if f[1] != "-" {
				c.Hook = strings.ToLower(f[0])
			}
			rs.Chains = append(rs.Chains, c)
		case strings.HasPrefix(line, "-A "):
			words, err := shellWords(line)
			if err != nil {
				return nil, fmt.Errorf("ip6tables-save: line %d: %w", n, err)
			}
			c := rs.chain("ip6", table, words[1])
			if c == nil {
				return nil, fmt.Errorf("ip6tables-save: line %d: unknown chain %q", n, words[1])
			}
			isChain := func(name string) bool { return rs.chain("ip6", table, name) != nil }
			c.Rules = append(c.Rules, iptablesRule(words[2:], line, isChain))
		default:
			return nil, fmt.Errorf("ip6tables-save: line %d: cannot read %q", n, line)
		}
	}
	return rs, sc.Err()
}

// iptablesRule reads the words after "-A CHAIN"; isChain says whether a
// target is a chain of the table.
func iptablesRule(words []string, text string, isChain func(string) bool) Rule {
	r := Rule{Text: text}
	not := false
	module := ""
	add := func(f Field, vals ...string) {
		r.Conds = append(r.Conds, Cond{Field: f, Not: not, Values: vals})
	}
	// Options after the target are the target's own (--reject-with).
	for i := 0; i < len(words) && r.Verdict == Continue && r.Target == ""; i++ {
		w := words[i]
		arg := func() string {
			if i+1 < len(words) {
				i++
				return words[i]
			}
			return ""
		}
		if w == "!" {
			not = true
			continue
		}
		switch w {
		case "-p", "--protocol":
			add(FieldProto, numeric([]string{arg()}, protocols)...)
		case "-s", "--source":
			add(FieldSrc, strings.Split(arg(), ",")...)
		case "-d", "--destination":
			add(FieldDst, strings.Split(arg(), ",")...)
		case "-i", "--in-interface":
			add(FieldIif, arg())
		case "-o", "--out-interface":
			add(FieldOif, arg())
		case "-m", "--match":
			module = arg()
			switch module {
			case "icmp6", "conntrack", "state", "hl", "comment", "tcp", "udp":
			default:
				// A match we cannot read may or may not hold.
				add(FieldOpaque)
			}
		case "--icmpv6-type":
			t, _, _ := strings.Cut(arg(), "/") // type[/code]
			add(FieldICMPType, numeric([]string{t}, icmpTypes)...)
		case "--ctstate", "--state":
			var states []string
			for _, s := range strings.Split(arg(), ",") {
				states = append(states, strings.ToLower(s))
			}
			add(FieldCtState, states...)
		case "--hl-eq":
			add(FieldHopLimit, arg())
		case "--comment":
			arg()
		case "-j", "--jump", "-g", "--goto":
			target := arg()
			switch target {
			case "ACCEPT":
				r.Verdict = Accept
			case "DROP", "REJECT":
				r.Verdict = Drop
			case "RETURN":
				r.Verdict = Return
			case "LOG", "NFLOG", "MARK", "CONNMARK", "TRACE", "AUDIT", "CT", "NOTRACK":
				r.Verdict = Continue
			default:
				switch {
				case !isChain(target):
					// Another extension target (NFQUEUE, TPROXY...).
					r.Verdict = Unknown
				case w == "-g" || w == "--goto":
					r.Verdict, r.Target = Goto, target
				default:
					r.Verdict, r.Target = Jump, target
				}
			}
		default:
			if strings.HasPrefix(w, "-") {
				// An option of a match we do not model (--dport, --hl-gt,
				// --limit, ...), with its argument unless the next word is
				// another option.
				add(FieldOpaque)
				if i+1 < len(words) && !strings.HasPrefix(words[i+1], "-") && words[i+1] != "!" {
					i++
				}
			} else {
				add(FieldOpaque)
			}
		}
		not = false
	}
	return r
}

// shellWords splits a line the way ip6tables-save quotes it: double quotes,
// with \" and \\ inside them.
func shellWords(line string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord, quoted := false, false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quoted && c == '\\' && i+1 < len(line):
			i++
			cur.WriteByte(line[i])
		case c == '"':
			quoted = !quoted
			inWord = true
		case !quoted && (c == ' ' || c == '\t'):
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if quoted {
		return nil, fmt.Errorf("unterminated quote in %q", line)
	}
	if inWord {
		words = append(words, cur.String())
	}
	if len(words) < 2 {
		return nil, fmt.Errorf("no chain in %q", line)
	}
	return words, nil
}
