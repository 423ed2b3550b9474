package packaging

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// realValidateDataEnv names the variable that points the tests to a real
// validate_data, built from openwrt/ubox, to use instead of validateData.
const realValidateDataEnv = "NDPROXY_VALIDATE_DATA"

// validateData stands in for the two-argument form of OpenWrt's
// /sbin/validate_data ("validate_data DATATYPE VALUE", exit 0 if valid),
// which the shim's uci_validate_section calls. It knows only the datatypes
// the init script uses, with the meaning ubox's validate/validate.c gives
// them, and fails on any other: it is a test double, not a port.
func validateData(expr, value string) (bool, error) {
	p := &dtParser{s: expr}
	// As in validate.c, the expression is a list of alternatives.
	args, err := p.list()
	if err != nil {
		return false, err
	}
	if p.pos != len(p.s) {
		return false, fmt.Errorf("datatype %q: trailing %q", expr, p.s[p.pos:])
	}
	if value == "" {
		return false, nil
	}
	return dtEval(&dtNode{name: "or", args: args, isFunc: true}, value)
}

// dtNode is a function call, a quoted string or a number.
type dtNode struct {
	name   string // function name; "" for a literal
	args   []*dtNode
	str    string
	num    float64
	isNum  bool
	isFunc bool
}

type dtParser struct {
	s   string
	pos int
}

func (p *dtParser) list() ([]*dtNode, error) {
	var out []*dtNode
	for {
		n, err := p.atom()
		if err != nil {
			return nil, err
		}
		out = append(out, n)
		if p.pos < len(p.s) && p.s[p.pos] == ',' {
			p.pos++
			continue
		}
		return out, nil
	}
}

func (p *dtParser) atom() (*dtNode, error) {
	for p.pos < len(p.s) && p.s[p.pos] == ' ' {
		p.pos++
	}
	rest := p.s[p.pos:]
	switch {
	case rest == "":
		return nil, fmt.Errorf("datatype %q: unexpected end", p.s)
	case rest[0] == '\'' || rest[0] == '"':
		end := strings.IndexByte(rest[1:], rest[0])
		if end < 0 {
			return nil, fmt.Errorf("datatype %q: unterminated string", p.s)
		}
		p.pos += end + 2
		return &dtNode{str: rest[1 : end+1]}, nil
	case rest[0] == '-' || rest[0] >= '0' && rest[0] <= '9':
		n := strings.IndexFunc(rest, func(r rune) bool { return r == ',' || r == ')' })
		if n < 0 {
			n = len(rest)
		}
		f, err := strconv.ParseFloat(rest[:n], 64)
		if err != nil {
			return nil, fmt.Errorf("datatype %q: %v", p.s, err)
		}
		p.pos += n
		return &dtNode{num: f, isNum: true}, nil
	}
	n := 0
	for n < len(rest) && (rest[n] == '_' || rest[n] >= 'a' && rest[n] <= 'z' || rest[n] >= '0' && rest[n] <= '9') {
		n++
	}
	node := &dtNode{name: rest[:n], isFunc: true}
	p.pos += n
	if p.pos < len(p.s) && p.s[p.pos] == '(' {
		p.pos++
		args, err := p.list()
		if err != nil {
			return nil, err
		}
		if p.pos >= len(p.s) || p.s[p.pos] != ')' {
			return nil, fmt.Errorf("datatype %q: missing )", p.s)
		}
		p.pos++
		node.args = args
	}
	return node, nil
}

// cLong parses like strtol(s, &end, 0) with *end == 0 required.
func cLong(s string) (int64, bool) {
	t := strings.TrimLeft(s, " \t")
	neg := false
	if t != "" && (t[0] == '-' || t[0] == '+') {
		neg = t[0] == '-'
		t = t[1:]
	}
	base := 10
	switch {
	case len(t) > 2 && (t[:2] == "0x" || t[:2] == "0X"):
		base, t = 16, t[2:]
	case len(t) > 1 && t[0] == '0':
		base, t = 8, t[1:]
	}
	n, err := strconv.ParseInt(t, base, 64)
	if err != nil {
		return 0, false
	}
	if neg {
		n = -n
	}
	return n, true
}

func dtEval(n *dtNode, v string) (bool, error) {
	switch {
	case n.isNum:
		f, err := strconv.ParseFloat(v, 64)
		return err == nil && f == n.num, nil
	case !n.isFunc:
		return v == n.str, nil
	}
	nums := func(k int) ([]int64, error) {
		if len(n.args) < k {
			return nil, fmt.Errorf("%s needs %d numbers", n.name, k)
		}
		out := make([]int64, k)
		for i := range out {
			if !n.args[i].isNum {
				return nil, fmt.Errorf("%s needs %d numbers", n.name, k)
			}
			out[i] = int64(n.args[i].num)
		}
		return out, nil
	}
	switch n.name {
	case "or", "and":
		for _, a := range n.args {
			ok, err := dtEval(a, v)
			if err != nil || ok == (n.name == "or") {
				return ok, err
			}
		}
		return n.name == "and", nil
	case "list":
		for _, item := range strings.Fields(v) {
			if ok, err := dtEval(n.args[0], item); !ok || err != nil {
				return false, err
			}
		}
		return true, nil
	case "range":
		r, err := nums(2)
		x, ok := cLong(v)
		return ok && x >= r[0] && x <= r[1], err
	case "maxlength":
		r, err := nums(1)
		return int64(len(v)) <= r[0], err
	case "rangelength":
		r, err := nums(2)
		return int64(len(v)) >= r[0] && int64(len(v)) <= r[1], err
	case "bool":
		switch strings.ToLower(v) {
		case "0", "off", "false", "no", "disabled", "1", "on", "true", "yes", "enabled":
			return true, nil
		}
		return false, nil
	case "cidr6":
		addr, bits, slash := strings.Cut(v, "/")
		if slash {
			b, err := strconv.ParseUint(bits, 10, 32)
			if err != nil || b > 128 {
				return false, nil
			}
		}
		a, err := netip.ParseAddr(addr)
		return err == nil && a.Is6() && a.Zone() == "", nil
	case "regex":
		if len(n.args) != 1 || n.args[0].isFunc || n.args[0].isNum {
			return false, fmt.Errorf("regex needs one string")
		}
		re, err := regexp.CompilePOSIX("^" + n.args[0].str + "$")
		if err != nil {
			return false, err
		}
		return re.MatchString(v), nil
	}
	return false, fmt.Errorf("shim: datatype %s is not implemented", n.name)
}

func TestValidateDataDouble(t *testing.T) {
	for _, tc := range []struct {
		expr, value string
		want        bool
	}{
		{"or('probe','auto','static')", "auto", true},
		{"or('probe','auto','static')", "prob", false},
		{"range(1,10)", "10", true},
		{"range(1,10)", "0x0a", true},
		{"range(1,10)", "11", false},
		{"range(1,10)", "3s", false},
		{"bool", "Yes", true},
		{"bool", "2", false},
		{"list(cidr6)", "2001:db8::/64 2001:db8:1::/64", true},
		{"list(cidr6)", "2001:db8::/129", false},
		{"cidr6", "192.0.2.0/24", false},
		{"and(rangelength(1,15),regex('[^/ ]+'))", "br-lan", true},
		{"and(rangelength(1,15),regex('[^/ ]+'))", "a/b", false},
		{"and(rangelength(1,15),regex('[^/ ]+'))", "abcdefghijklmnop", false},
		{"regex('[0-9]+(ms|s|m|h)?')", "500ms", true},
		{"regex('[0-9]+(ms|s|m|h)?')", "1.5s", false},
		{"and(maxlength(107),regex('/.*'))", "run/x.sock", false},
	} {
		got, err := validateData(tc.expr, tc.value)
		if err != nil || got != tc.want {
			t.Errorf("validateData(%q, %q) = %v, %v; want %v", tc.expr, tc.value, got, err, tc.want)
		}
		if real := os.Getenv(realValidateDataEnv); real != "" {
			err := exec.Command(real, tc.expr, tc.value).Run()
			if real := err == nil; real != tc.want {
				t.Errorf("%s %q %q: valid %v, want %v", realValidateDataEnv, tc.expr, tc.value, real, tc.want)
			}
		}
	}
	if _, err := validateData("macaddr", "x"); err == nil {
		t.Error("an unknown datatype was accepted")
	}
}
