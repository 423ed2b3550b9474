package config

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The options each section type takes, in the order docs/config.md lists them.
var (
	globalOptions = []string{"log_level", "socket"}
	proxyOptions  = []string{
		"enabled", "upstream", "downstream", "prefix", "prefix_from", "verify", "route",
		"route_metric", "router", "override",
		"valid_ttl", "invalid_ttl", "probe_timeout", "probe_retries",
		"ra_relay", "ra_onlink", "ra_dns", "ra_interval", "ra_holddown",
	}
)

// Defaults of the proxy options; docs/config.md has the same table.
const (
	defaultRouteMetric  = 64
	defaultValidTTL     = 30 * time.Second
	defaultInvalidTTL   = 10 * time.Second
	defaultProbeTimeout = time.Second
	defaultProbeRetries = 3
	defaultRAInterval   = 3 * time.Minute
	defaultRAHoldDown   = 10 * time.Minute
)

// validate turns the sections of package pkg into a Config, or returns every
// problem it finds.
func validate(pkg string, sections []rawSection) (*Config, error) {
	var errs []error
	cfg := &Config{Global: defaultGlobal()}
	firstGlobal := ""
	var enabled []placed // enabled proxy sections so far, to compare prefixes
	var advertisers []advertiser

	for _, rs := range sections {
		s := newSection(pkg, rs, &errs)
		switch rs.Type {
		case "global":
			if firstGlobal != "" {
				s.errorf("", "only one global section is allowed; the first is %s", firstGlobal)
				continue
			}
			firstGlobal = s.path
			cfg.Global = s.global()
		case "proxy":
			p, on := s.proxy()
			if !on {
				continue // validated all the same, so enabling it later is safe
			}
			checkOverlap(s, p, enabled)
			enabled = append(enabled, placed{s.path, p})
			cfg.Proxies = append(cfg.Proxies, p)
		case "mdns":
			if r, on := s.mdns(); on {
				cfg.Reflectors = append(cfg.Reflectors, r)
			}
		case "wireguard":
			if wg, on := s.wireguard(); on {
				cfg.WireGuard = append(cfg.WireGuard, wg)
				advertisers = append(advertisers, advertiser{s, wg})
			}
		default:
			s.errorf("", "unknown section type %q; allowed: global, proxy, mdns, wireguard", rs.Type)
		}
	}
	for _, a := range advertisers {
		checkOneRouter(a.s, a.wg, cfg.Proxies)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return cfg, nil
}

// advertiser is a wireguard section and where it is in the file.
type advertiser struct {
	s  *section
	wg WireGuard
}

// checkOneRouter reports a wireguard section that advertises on a device
// a proxy section also relays RAs to: the hosts would get two routers'
// RAs with different prefixes, one of them proxied.
func checkOneRouter(s *section, wg WireGuard, proxies []Proxy) {
	if !wg.RAAdvertise {
		return
	}
	for _, p := range proxies {
		if p.RARelay && slices.Contains(p.Downstream, wg.Device) {
			s.errorf("ra_advertise", "%s is also a downstream of proxy section %s, which relays Router Advertisements there; turn off one of them",
				wg.Device, p.Name)
		}
	}
}

// placed is a validated proxy section and where it is in the file.
type placed struct {
	path string
	Proxy
}

// checkOverlap reports prefixes of p, read from s, that overlap a prefix of
// an earlier enabled section on the same upstream: both sections would answer
// for the same targets on the same link.
func checkOverlap(s *section, p Proxy, earlier []placed) {
	if p.Upstream == "" {
		return
	}
	for _, e := range earlier {
		if e.Upstream != p.Upstream {
			continue
		}
		for _, a := range p.Prefixes {
			for _, b := range e.Prefixes {
				if a.Overlaps(b) {
					s.errorf("prefix", "%s overlaps %s of %s, which also proxies on %s",
						a, b, e.path, p.Upstream)
				}
			}
		}
	}
}

// section reads the options of one section and records what is wrong.
type section struct {
	path string // "ndproxy.island" or "ndproxy.@proxy[0]"
	name string // Proxy.Name
	raw  rawSection
	errs *[]error
}

func newSection(pkg string, rs rawSection, errs *[]error) *section {
	s := &section{raw: rs, errs: errs}
	anon := fmt.Sprintf("@%s[%d]", rs.Type, rs.Index)
	s.name = rs.Name
	if rs.Name == "" || !validName(rs.Name) {
		s.name = anon
	}
	s.path = pkg + "." + s.name
	if rs.Name != "" && !validName(rs.Name) {
		s.errorf("", "section name %q is not valid: use letters, digits and _", rs.Name)
	}
	return s
}

// validName reports whether name is a UCI section or option name
// (libuci's uci_validate_name: [A-Za-z0-9_]+).
func validName(name string) bool {
	if name == "" {
		return false
	}
	for _, c := range []byte(name) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// errorf records a problem with option opt, or with the section if opt is "".
func (s *section) errorf(opt, format string, args ...any) {
	path := s.path
	if opt != "" {
		path += "." + opt
	}
	*s.errs = append(*s.errs, &Error{Path: path, Msg: fmt.Sprintf(format, args...)})
}

// checkKnown reports the options that are not in known, in file order.
func (s *section) checkKnown(known []string) {
	for _, o := range s.raw.Options {
		if slices.Contains(known, o.Name) {
			continue
		}
		if near := nearest(o.Name, known); near != "" {
			s.errorf(o.Name, "unknown option; did you mean %s?", near)
		} else {
			s.errorf(o.Name, "unknown option; a %s section takes %s",
				s.raw.Type, strings.Join(known, ", "))
		}
	}
}

func (s *section) option(name string) (rawOption, bool) {
	for _, o := range s.raw.Options {
		if o.Name == name {
			return o, true
		}
	}
	return rawOption{}, false
}

// scalar returns the value of a single-valued option; ok is false if the
// option is absent or was given as a list (which is reported).
func (s *section) scalar(name string) (v string, ok bool) {
	o, ok := s.option(name)
	if !ok {
		return "", false
	}
	if o.List || len(o.Values) != 1 {
		s.errorf(name, "takes a single value; write it as \"option %s\", not as a list", name)
		return "", false
	}
	return o.Values[0], true
}

// list returns the values of an option that may be written as "list" lines
// or as a single "option".
func (s *section) list(name string) []string {
	o, _ := s.option(name)
	return o.Values
}

func (s *section) boolean(name string, def bool) bool {
	v, ok := s.scalar(name)
	if !ok {
		return def
	}
	switch v {
	case "1", "yes", "on", "true", "enabled":
		return true
	case "0", "no", "off", "false", "disabled":
		return false
	}
	s.errorf(name, "%q is not a boolean: use 1 or 0 (also yes/no, on/off, true/false, enabled/disabled)", v)
	return def
}

// oneOf returns the value of name if it is one of allowed, else "".
func (s *section) oneOf(name string, allowed ...string) string {
	v, ok := s.scalar(name)
	if !ok {
		return ""
	}
	if !slices.Contains(allowed, v) {
		s.errorf(name, "%q is not one of %s", v, strings.Join(allowed, ", "))
		return ""
	}
	return v
}

func (s *section) integer(name string, def, lo, hi uint64) uint64 {
	v, ok := s.scalar(name)
	if !ok {
		return def
	}
	n, err := strconv.ParseUint(v, 10, 64)
	switch {
	case err != nil && !errors.Is(err, strconv.ErrRange):
		s.errorf(name, "%q is not a whole number in %d..%d", v, lo, hi)
	case err != nil || n < lo || n > hi:
		s.errorf(name, "%q is out of range %d..%d", v, lo, hi)
	default:
		return n
	}
	return def
}

func (s *section) duration(name string, def, lo, hi time.Duration) time.Duration {
	v, ok := s.scalar(name)
	if !ok {
		return def
	}
	d, err := parseDuration(v)
	switch {
	case errors.Is(err, errDurationRange) || err == nil && (d < lo || d > hi):
		s.errorf(name, "%q is out of range %s..%s", v, formatDuration(lo), formatDuration(hi))
	case err != nil:
		s.errorf(name, "%q is not a duration: use a whole number with unit ms, s, m or h, "+
			"like 500ms or 30s (a bare number means seconds)", v)
	default:
		return d
	}
	return def
}

var errDurationRange = errors.New("duration out of range")

// parseDuration reads a whole number with an optional unit ms, s, m or h;
// without a unit the number counts seconds. Fractions and compound values
// ("1m30s") are not UCI style and are refused.
func parseDuration(v string) (time.Duration, error) {
	num := strings.TrimRight(v, "abcdefghijklmnopqrstuvwxyz")
	units := map[string]time.Duration{
		"": time.Second, "ms": time.Millisecond, "s": time.Second, "m": time.Minute, "h": time.Hour,
	}
	unit, ok := units[v[len(num):]]
	if num == "" || !ok || strings.TrimLeft(num, "0123456789") != "" {
		return 0, fmt.Errorf("%q is not a duration", v)
	}
	n, err := strconv.ParseUint(num, 10, 63)
	if err != nil || n > uint64(math.MaxInt64/unit) {
		return 0, errDurationRange
	}
	return time.Duration(n) * unit, nil
}

// formatDuration writes d the way parseDuration reads it, in the largest unit
// that divides it.
func formatDuration(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	for _, u := range []struct {
		d    time.Duration
		name string
	}{{time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}, {time.Millisecond, "ms"}} {
		if d%u.d == 0 {
			return strconv.FormatInt(int64(d/u.d), 10) + u.name
		}
	}
	return d.String() // not from a config file; Marshal refuses it
}

func defaultGlobal() Global { return Global{LogLevel: "info", Socket: DefaultSocket} }

func (s *section) global() Global {
	s.checkKnown(globalOptions)
	g := defaultGlobal()
	if v := s.oneOf("log_level", "debug", "info", "warn", "error"); v != "" {
		g.LogLevel = v
	}
	if v, ok := s.scalar("socket"); ok {
		if err := checkSocket(v); err != nil {
			s.errorf("socket", "%v", err)
		} else {
			g.Socket = v
		}
	}
	return g
}

// checkSocket accepts an absolute path that fits sockaddr_un's sun_path
// (108 bytes with the terminating NUL).
func checkSocket(path string) error {
	switch {
	case !strings.HasPrefix(path, "/"):
		return fmt.Errorf("%q is not an absolute path", path)
	case strings.IndexByte(path, 0) >= 0:
		return fmt.Errorf("%q contains a NUL byte", path)
	case len(path) > 107:
		return fmt.Errorf("%q is longer than 107 bytes, the limit for a unix socket path", path)
	}
	return nil
}

// proxy reads a proxy section; on reports whether it is enabled.
func (s *section) proxy() (p Proxy, on bool) {
	s.checkKnown(proxyOptions)
	p = Proxy{Name: s.name}
	on = s.boolean("enabled", true)

	upOK := false
	if _, present := s.option("upstream"); !present {
		s.errorf("upstream", "missing; name the interface to answer Neighbor Solicitations on")
	} else if v, ok := s.scalar("upstream"); ok {
		if err := checkIfname(v); err != nil {
			s.errorf("upstream", "%v", err)
		} else {
			p.Upstream, upOK = v, true
		}
	}

	downOK := true // every downstream given is usable
	for _, v := range s.list("downstream") {
		switch err := checkIfname(v); {
		case err != nil:
			s.errorf("downstream", "%v", err)
		case slices.Contains(p.Downstream, v):
			// go-uci already merges exact repeats; this keeps the
			// invariant should the reader change.
			s.errorf("downstream", "%q is listed twice", v)
			continue
		case upOK && v == p.Upstream:
			s.errorf("downstream", "%q is also the upstream; a downstream must be another interface", v)
		default:
			p.Downstream = append(p.Downstream, v)
			continue
		}
		downOK = false
	}

	for _, v := range s.list("prefix_from") {
		switch err := checkIfname(v); {
		case err != nil:
			s.errorf("prefix_from", "%v", err)
		case slices.Contains(p.PrefixFrom, v):
			s.errorf("prefix_from", "%q is listed twice", v)
		default:
			p.PrefixFrom = append(p.PrefixFrom, v)
		}
	}
	p.RARelay = s.boolean("ra_relay", false)
	prefixes := s.list("prefix")
	if len(prefixes) == 0 && !s.has("prefix_from") && p.RARelay && upOK {
		// Relaying the upstream's RAs: the upstream's own on-link
		// prefixes, which it takes from those RAs, are what to proxy.
		p.PrefixFrom = []string{p.Upstream}
	} else if len(prefixes) == 0 && !s.has("prefix_from") {
		s.errorf("prefix", "missing; give at least one IPv6 prefix to proxy, like 2001:db8:abc:123:40::/76, or an interface in prefix_from to take them from")
	}
	for _, v := range prefixes {
		q, err := parsePrefix(v)
		switch {
		case err != nil:
			s.errorf("prefix", "%v", err)
		case slices.Contains(p.Prefixes, q):
			s.errorf("prefix", "%s is listed twice", q)
		default:
			p.Prefixes = append(p.Prefixes, q)
		}
	}

	p.Verify = Verify(s.oneOf("verify", string(VerifyProbe), string(VerifyAuto), string(VerifyStatic)))
	verifyOK := p.Verify != "" || !s.has("verify")
	if p.Verify == "" {
		p.Verify = VerifyProbe
	}
	if verifyOK && p.Verify == VerifyProbe && !s.has("downstream") {
		s.errorf("downstream", "missing; verify probe needs at least one downstream interface to probe on")
	}

	p.Route = RouteMode(s.oneOf("route", string(RouteHost), string(RoutePrefix), string(RouteNone)))
	if p.Route == "" {
		p.Route = defaultRoute(p.Verify, len(p.Downstream))
	} else if verifyOK && downOK {
		switch {
		case p.Route == RouteHost && p.Verify == VerifyStatic:
			s.errorf("route", "\"host\" routes the targets ndproxy learns, and verify static learns none; use prefix or none")
		case p.Route == RouteHost && len(p.Downstream) == 0 && p.Verify != VerifyProbe:
			s.errorf("route", "\"host\" needs a downstream interface to route the targets to")
		case p.Route == RoutePrefix && len(p.Downstream) != 1:
			s.errorf("route", "\"prefix\" needs exactly one downstream to route the prefixes to, not %d", len(p.Downstream))
		}
	}

	p.RouteMetric = int(s.integer("route_metric", defaultRouteMetric, 1, math.MaxInt32))
	p.Router = s.boolean("router", false)
	p.Override = s.boolean("override", true)
	p.ValidTTL = s.duration("valid_ttl", defaultValidTTL, time.Second, time.Hour)
	p.InvalidTTL = s.duration("invalid_ttl", defaultInvalidTTL, 0, time.Hour)
	p.ProbeTimeout = s.duration("probe_timeout", defaultProbeTimeout, 10*time.Millisecond, 10*time.Second)
	p.ProbeRetries = int(s.integer("probe_retries", defaultProbeRetries, 1, 10))
	s.raOptions(&p)
	return p, on
}

// raOptions reads the options of the Router Advertisement relay.
func (s *section) raOptions(p *Proxy) {
	if p.RARelay && !s.has("downstream") {
		s.errorf("ra_relay", "needs at least one downstream interface to relay Router Advertisements to")
	}
	p.RAOnLink = s.boolean("ra_onlink", false)
	p.RADNS = s.dnsServers("ra_dns")
	// RFC 4861 section 6.2.1: MaxRtrAdvInterval is 4 to 1800 seconds.
	p.RAInterval = s.duration("ra_interval", defaultRAInterval, 4*time.Second, 1800*time.Second)
	p.RAHoldDown = s.duration("ra_holddown", defaultRAHoldDown, time.Second, 24*time.Hour)
}

// dnsServers reads a list of DNS servers to announce in RAs: addresses a
// host behind us can reach, so not link-local.
func (s *section) dnsServers(name string) []netip.Addr {
	var out []netip.Addr
	for _, v := range s.list(name) {
		a, err := netip.ParseAddr(v)
		switch {
		case err != nil || !a.Is6() || a.Zone() != "":
			s.errorf(name, "%q is not an IPv6 address", v)
		case !a.IsGlobalUnicast() || a.IsLinkLocalUnicast():
			s.errorf(name, "%q is not a global or unique local unicast address", v)
		case slices.Contains(out, a):
			s.errorf(name, "%s is listed twice", a)
		default:
			out = append(out, a)
		}
	}
	return out
}

func (s *section) has(name string) bool {
	_, ok := s.option(name)
	return ok
}

// defaultRoute picks the route mode when the section names none: probe
// learns targets, so host routes; auto found its targets through existing
// routes, so none; static learns nothing, so the prefix goes to the only
// downstream if there is exactly one.
func defaultRoute(v Verify, downstreams int) RouteMode {
	switch {
	case v == VerifyProbe:
		return RouteHost
	case v == VerifyStatic && downstreams == 1:
		return RoutePrefix
	}
	return RouteNone
}

// checkIfname applies the kernel's dev_valid_name (net/core/dev.c): 1 to
// IFNAMSIZ-1 = 15 bytes, not "." or "..", no '/', ':' or whitespace (the
// kernel's isspace, which includes Latin-1 NBSP). NUL ends a C string, so it
// is refused too.
func checkIfname(name string) error {
	bad := name == "" || len(name) > 15 || name == "." || name == ".."
	for _, c := range []byte(name) {
		switch c {
		case '/', ':', ' ', '\t', '\n', '\v', '\f', '\r', 0xa0, 0:
			bad = true
		}
	}
	if bad {
		return fmt.Errorf("%q is not a valid interface name: "+
			"1 to 15 bytes without \"/\", \":\" or whitespace, not \".\" or \"..\"", name)
	}
	return nil
}

// parsePrefix reads one prefix to proxy: IPv6, length 64 to 128, host bits
// zero, and unicast space that Neighbor Discovery can be asked about.
func parsePrefix(v string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(v)
	if err != nil {
		if a, aerr := netip.ParseAddr(v); aerr == nil && a.Is6() && a.Zone() == "" {
			return netip.Prefix{}, fmt.Errorf("%q has no length; write %s/128 for a single address", v, a)
		}
		return netip.Prefix{}, fmt.Errorf("%q is not an IPv6 prefix like 2001:db8:abc:123:40::/76", v)
	}
	a := p.Addr()
	var what string
	switch {
	case !a.Is6():
		return netip.Prefix{}, fmt.Errorf("%q is not an IPv6 prefix", v)
	case p.Bits() < 64:
		return netip.Prefix{}, fmt.Errorf("%q is too short; the length must be 64 to 128", v)
	case p != p.Masked():
		return netip.Prefix{}, fmt.Errorf("%q has host bits set; did you mean %s?", v, p.Masked())
	// With a length of 64 or more, the first address decides whether the
	// prefix overlaps each of these ranges: ::/128 and ::1/128 (a prefix
	// holding either starts at ::, or is ::1/128), ::ffff:0:0/96,
	// fe80::/10 and ff00::/8.
	case a.IsUnspecified() || a.IsLoopback():
		what = "the unspecified or loopback address"
	case a.Is4In6():
		what = "IPv4-mapped"
	case a.IsLinkLocalUnicast():
		what = "link-local"
	case a.IsMulticast():
		what = "multicast"
	default:
		return p, nil
	}
	return netip.Prefix{}, fmt.Errorf("%q is %s; proxy a global or unique local unicast prefix", v, what)
}

// nearest returns the name in known within two edits of name, if there is
// exactly one best such name.
func nearest(name string, known []string) string {
	best, bestD, ties := "", 3, 0
	for _, k := range known {
		switch d := editDistance(name, k); {
		case d < bestD:
			best, bestD, ties = k, d, 0
		case d == bestD:
			ties++
		}
	}
	if ties > 0 {
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance of a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
