package config

import (
	"fmt"
	"net/netip"
	"strings"
)

// mdnsOptions are the options of an "mdns" section, in docs/config.md order.
var mdnsOptions = []string{
	"enabled", "interface", "ipv4", "ipv6", "filter_addresses", "reachable",
	"allow_service", "deny_service",
}

// Reflector is one "mdns" section: an mDNS reflector between the listed
// interfaces.
type Reflector struct {
	// Name is the UCI section name, or "@mdns[N]".
	Name string
	// Interfaces are the links between which answers are reflected.
	Interfaces []string
	// IPv4 and IPv6 say which of the two .local zones are reflected (each
	// within its own family, RFC 6762 §20).
	IPv4, IPv6 bool
	// FilterAddresses keeps addresses the far side cannot use from crossing:
	// link-local ones always, unique local (fc00::/7) ones unless inside
	// Reachable.
	FilterAddresses bool
	// Reachable are prefixes whose addresses may cross although they would
	// be filtered: a ULA prefix that the other links route.
	Reachable []netip.Prefix
	// AllowServices, when not empty, are the only DNS-SD service types
	// ("_ssh._tcp") reflected; DenyServices are never reflected. Host
	// names and their addresses are not services and always cross.
	AllowServices, DenyServices []string
}

// mdns reads an mdns section; on reports whether it is enabled.
func (s *section) mdns() (r Reflector, on bool) {
	s.checkKnown(mdnsOptions)
	r = Reflector{Name: s.name}
	on = s.boolean("enabled", true)
	for _, v := range s.list("interface") {
		if err := checkIfname(v); err != nil {
			s.errorf("interface", "%v", err)
			continue
		}
		r.Interfaces = append(r.Interfaces, v)
	}
	if len(r.Interfaces) < 2 {
		s.errorf("interface", "needs at least two interfaces to reflect between")
	}
	r.IPv4 = s.boolean("ipv4", true)
	r.IPv6 = s.boolean("ipv6", true)
	if _, set4 := s.option("ipv4"); !r.IPv4 && !r.IPv6 {
		opt := "ipv6"
		if set4 {
			opt = "ipv4"
		}
		s.errorf(opt, "ipv4 and ipv6 are both off: nothing to reflect")
	}
	r.FilterAddresses = s.boolean("filter_addresses", true)
	for _, v := range s.list("reachable") {
		p, err := parseReachable(v)
		if err != nil {
			s.errorf("reachable", "%v", err)
			continue
		}
		r.Reachable = append(r.Reachable, p)
	}
	if len(r.Reachable) > 0 && !r.FilterAddresses {
		s.errorf("reachable", "has no effect with filter_addresses off")
	}
	r.AllowServices = s.services("allow_service")
	r.DenyServices = s.services("deny_service")
	for _, a := range r.AllowServices {
		for _, d := range r.DenyServices {
			if a == d {
				s.errorf("deny_service", "%s is also in allow_service", d)
			}
		}
	}
	return r, on
}

// parseReachable reads a prefix of either family. Link-local prefixes are
// refused: such an address means nothing on another link.
func parseReachable(v string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(v)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a prefix like fd2f::/64 or 192.168.7.0/24", v)
	}
	if p != p.Masked() {
		return netip.Prefix{}, fmt.Errorf("%q has host bits set; the prefix is %s", v, p.Masked())
	}
	ll4 := netip.MustParsePrefix("169.254.0.0/16")
	ll6 := netip.MustParsePrefix("fe80::/10")
	if ll4.Overlaps(p) || ll6.Overlaps(p) {
		return netip.Prefix{}, fmt.Errorf("%s overlaps the link-local addresses, which never cross links", p)
	}
	return p, nil
}

// services reads a list of DNS-SD service types, "_name._tcp" or "_name._udp"
// (RFC 6763 §7), folded to lower case.
func (s *section) services(opt string) []string {
	var out []string
	for _, v := range s.list(opt) {
		svc := strings.ToLower(strings.TrimSuffix(strings.TrimSuffix(v, "."), ".local"))
		name, proto, ok := strings.Cut(svc, ".")
		if !ok || (proto != "_tcp" && proto != "_udp") || len(name) < 2 || len(name) > 16 ||
			name[0] != '_' || strings.ContainsAny(name[1:], "._ \t") {
			s.errorf(opt, "%q is not a service type like _ssh._tcp or _ipp._tcp", v)
			continue
		}
		out = append(out, svc)
	}
	return out
}

// reflector writes r as an mdns section with every option spelled out.
func (w *uciWriter) reflector(r Reflector) {
	name := r.Name
	if strings.HasPrefix(name, "@") {
		name = "" // anonymous
	} else if !validName(name) {
		w.fail(fmt.Errorf("marshal config: mdns section name %q is not valid: use letters, digits and _", name))
		return
	}
	w.section("mdns", name)
	w.option("enabled", "1")
	for _, i := range r.Interfaces {
		w.list("interface", i)
	}
	w.option("ipv4", formatBool(r.IPv4))
	w.option("ipv6", formatBool(r.IPv6))
	w.option("filter_addresses", formatBool(r.FilterAddresses))
	for _, p := range r.Reachable {
		w.list("reachable", p.String())
	}
	for _, s := range r.AllowServices {
		w.list("allow_service", s)
	}
	for _, s := range r.DenyServices {
		w.list("deny_service", s)
	}
}
