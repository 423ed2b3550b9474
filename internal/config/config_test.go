package config

import (
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// cmpPrefix compares netip values, which have unexported fields.
var (
	cmpPrefix = cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })
	cmpAddr   = cmp.Comparer(func(a, b netip.Addr) bool { return a == b })
)

var wantGlobal = Global{LogLevel: "info", Socket: "/var/run/ndproxy.sock"}

// proxy returns a Proxy with every default, changed by edit.
func proxy(name, up string, down []string, prefixes []string, edit func(*Proxy)) Proxy {
	p := Proxy{
		Name:         name,
		Upstream:     up,
		Downstream:   down,
		Verify:       VerifyProbe,
		Route:        RouteHost,
		RouteMetric:  64,
		Router:       false,
		Override:     true,
		ValidTTL:     30 * time.Second,
		InvalidTTL:   10 * time.Second,
		ProbeTimeout: time.Second,
		ProbeRetries: 3,
		RAInterval:   3 * time.Minute,
		RAHoldDown:   10 * time.Minute,
	}
	for _, s := range prefixes {
		p.Prefixes = append(p.Prefixes, netip.MustParsePrefix(s))
	}
	if edit != nil {
		edit(&p)
	}
	return p
}

// island is the S1 section (seed 000) followed by extra lines.
func island(extra ...string) string {
	return `
config proxy 'island'
	option upstream 'wlan0'
	list downstream 'eth0'
	list prefix '2001:db8:abc:123:40::/76'
` + lines(extra...)
}

func lines(l ...string) string {
	var b strings.Builder
	for _, s := range l {
		b.WriteString("\t" + s + "\n")
	}
	return b.String()
}

func s1(edit func(*Proxy)) Proxy {
	return proxy("island", "wlan0", []string{"eth0"}, []string{"2001:db8:abc:123:40::/76"}, edit)
}

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want *Config
	}{
		{
			name: "empty file",
			in:   "",
			want: &Config{Global: wantGlobal},
		},
		{
			name: "comments only",
			in:   "# nothing here\n\n   # or here\n",
			want: &Config{Global: wantGlobal},
		},
		{
			name: "S1 Wi-Fi island, verify probe",
			in: `
config proxy 'island'
	option upstream 'wlan0'
	list downstream 'eth0'
	list prefix '2001:db8:abc:123:40::/76'
	option verify 'probe'
`,
			want: &Config{Global: wantGlobal, Proxies: []Proxy{s1(nil)}},
		},
		{
			// Seed 002 writes its /64 as 2001:db8:3:2:1::/64, which has host
			// bits set (see TestParseErrors); the /64 holding the guests'
			// addresses 2001:db8:3:2:1::10..13 is 2001:db8:3:2::/64.
			name: "S2 bridged guests, verify auto, route prefix",
			in: `
config proxy 'guests'
	option upstream 'eth0'
	option downstream 'br0'
	option prefix '2001:db8:3:2::/64'
	option verify 'auto'
	option route 'prefix'
`,
			want: &Config{Global: wantGlobal, Proxies: []Proxy{
				proxy("guests", "eth0", []string{"br0"}, []string{"2001:db8:3:2::/64"}, func(p *Proxy) {
					p.Verify, p.Route = VerifyAuto, RoutePrefix
				}),
			}},
		},
		{
			name: "every option set, unquoted values, last line without newline",
			in: `config global
	option log_level debug
	option socket /tmp/ndp.sock
config proxy 'all'
	option enabled yes
	option upstream wan
	list downstream lan1
	list downstream lan2
	list prefix 2001:db8::/64
	list prefix 2001:db8:1::1/128
	option verify auto
	option route host
	option route_metric 2147483647
	option router on
	option override off
	option valid_ttl 1h
	option invalid_ttl 0
	option probe_timeout 10ms
	option probe_retries 10`,
			want: &Config{
				Global: Global{LogLevel: "debug", Socket: "/tmp/ndp.sock"},
				Proxies: []Proxy{proxy("all", "wan", []string{"lan1", "lan2"}, []string{"2001:db8::/64", "2001:db8:1::1/128"}, func(p *Proxy) {
					p.Verify, p.Route, p.RouteMetric = VerifyAuto, RouteHost, 2147483647
					p.Router, p.Override = true, false
					p.ValidTTL, p.InvalidTTL, p.ProbeTimeout, p.ProbeRetries = time.Hour, 0, 10*time.Millisecond, 10
				})},
			},
		},
		{
			name: "a bare number of seconds, minutes",
			in:   island("option valid_ttl '45'", "option invalid_ttl '2m'", "option probe_timeout '1s'"),
			want: &Config{Global: wantGlobal, Proxies: []Proxy{s1(func(p *Proxy) {
				p.ValidTTL, p.InvalidTTL, p.ProbeTimeout = 45*time.Second, 2*time.Minute, time.Second
			})}},
		},
		{
			name: "prefixes are stored in canonical form",
			in: `
config proxy 'x'
	option upstream 'eth0'
	option verify 'static'
	list prefix '2001:DB8:0:0:0:0:0:0/64'
	list prefix '2001:0db8:0001::/96'
`,
			want: &Config{Global: wantGlobal, Proxies: []Proxy{
				proxy("x", "eth0", nil, []string{"2001:db8::/64", "2001:db8:1::/96"}, func(p *Proxy) {
					p.Verify, p.Route = VerifyStatic, RouteNone
				}),
			}},
		},
		{
			name: "interface names the kernel allows",
			in: `
config proxy 'x'
	option upstream 'wan.6-x_y@z'
	list downstream '123456789012345'
	list prefix '2001:db8::/64'
`,
			want: &Config{Global: wantGlobal, Proxies: []Proxy{
				proxy("x", "wan.6-x_y@z", []string{"123456789012345"}, []string{"2001:db8::/64"}, nil),
			}},
		},
		{
			name: "route defaults follow verify and downstreams",
			in: `
config proxy 'probe'
	option upstream 'up0'
	list downstream 'd0'
	list prefix '2001:db8:0:1::/64'
config proxy 'auto'
	option upstream 'up0'
	option verify 'auto'
	list prefix '2001:db8:0:2::/64'
config proxy 'static1'
	option upstream 'up0'
	option verify 'static'
	list downstream 'd0'
	list prefix '2001:db8:0:3::/64'
config proxy 'static2'
	option upstream 'up0'
	option verify 'static'
	list downstream 'd0'
	list downstream 'd1'
	list prefix '2001:db8:0:4::/64'
config proxy 'static0'
	option upstream 'up0'
	option verify 'static'
	list prefix '2001:db8:0:5::/64'
`,
			want: &Config{Global: wantGlobal, Proxies: []Proxy{
				proxy("probe", "up0", []string{"d0"}, []string{"2001:db8:0:1::/64"}, nil),
				proxy("auto", "up0", nil, []string{"2001:db8:0:2::/64"}, func(p *Proxy) {
					p.Verify, p.Route = VerifyAuto, RouteNone
				}),
				proxy("static1", "up0", []string{"d0"}, []string{"2001:db8:0:3::/64"}, func(p *Proxy) {
					p.Verify, p.Route = VerifyStatic, RoutePrefix
				}),
				proxy("static2", "up0", []string{"d0", "d1"}, []string{"2001:db8:0:4::/64"}, func(p *Proxy) {
					p.Verify, p.Route = VerifyStatic, RouteNone
				}),
				proxy("static0", "up0", nil, []string{"2001:db8:0:5::/64"}, func(p *Proxy) {
					p.Verify, p.Route = VerifyStatic, RouteNone
				}),
			}},
		},
		{
			name: "anonymous sections are @type[N], counting named ones",
			in: `
config proxy
	option upstream 'a'
	list downstream 'x'
	list prefix '2001:db8:a::/64'
config proxy 'named'
	option upstream 'b'
	list downstream 'x'
	list prefix '2001:db8:b::/64'
config global
	option log_level 'warn'
config proxy
	option upstream 'c'
	list downstream 'x'
	list prefix '2001:db8:c::/64'
`,
			want: &Config{Global: Global{LogLevel: "warn", Socket: DefaultSocket}, Proxies: []Proxy{
				proxy("@proxy[0]", "a", []string{"x"}, []string{"2001:db8:a::/64"}, nil),
				proxy("named", "b", []string{"x"}, []string{"2001:db8:b::/64"}, nil),
				proxy("@proxy[2]", "c", []string{"x"}, []string{"2001:db8:c::/64"}, nil),
			}},
		},
		{
			name: "disabled sections are dropped and do not overlap",
			in: island() + `
config proxy 'old'
	option enabled 'disabled'
	option upstream 'wlan0'
	list downstream 'eth1'
	list prefix '2001:db8:abc:123::/64'
`,
			want: &Config{Global: wantGlobal, Proxies: []Proxy{s1(nil)}},
		},
		{
			name: "the same prefix on different upstreams",
			in: island() + `
config proxy 'other'
	option upstream 'wlan1'
	list downstream 'eth1'
	list prefix '2001:db8:abc:123:40::/76'
`,
			want: &Config{Global: wantGlobal, Proxies: []Proxy{
				s1(nil),
				proxy("other", "wlan1", []string{"eth1"}, []string{"2001:db8:abc:123:40::/76"}, nil),
			}},
		},
		{
			name: "a repeated option: the last one counts, as in libuci",
			in:   island("option verify 'static'", "option verify 'auto'"),
			want: &Config{Global: wantGlobal, Proxies: []Proxy{s1(func(p *Proxy) {
				p.Verify, p.Route = VerifyAuto, RouteNone
			})}},
		},
		{
			// go-uci merges exact repeats in a list; libuci would keep both.
			name: "list entries repeated exactly, option then list",
			in: island("list downstream 'eth1'", "list downstream 'eth0'",
				"list prefix '2001:db8:abc:123:40::/76'"),
			want: &Config{Global: wantGlobal, Proxies: []Proxy{s1(func(p *Proxy) {
				p.Downstream = []string{"eth0", "eth1"}
			})}},
		},
		{
			name: "option then list: the values add up, as in libuci",
			in: `
config proxy 'island'
	option upstream 'wlan0'
	option downstream 'eth0'
	list downstream 'eth1'
	option prefix '2001:db8:abc:123:40::/76'
`,
			want: &Config{Global: wantGlobal, Proxies: []Proxy{s1(func(p *Proxy) {
				p.Downstream = []string{"eth0", "eth1"}
			})}},
		},
		{
			name: "a section name repeated: libuci and go-uci merge the two",
			in: island() + `
config proxy 'island'
	list downstream 'eth1'
`,
			want: &Config{Global: wantGlobal, Proxies: []Proxy{s1(func(p *Proxy) {
				p.Downstream = []string{"eth0", "eth1"}
			})}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse("ndproxy", []byte(tt.in))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if diff := cmp.Diff(tt.want, got, cmpPrefix); diff != "" {
				t.Errorf("Parse (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseBooleans(t *testing.T) {
	for _, v := range []string{"1", "yes", "on", "true", "enabled", "0", "no", "off", "false", "disabled"} {
		t.Run(v, func(t *testing.T) {
			got, err := Parse("ndproxy", []byte(island("option router '"+v+"'")))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			want := v == "1" || v == "yes" || v == "on" || v == "true" || v == "enabled"
			if got.Proxies[0].Router != want {
				t.Errorf("router %q = %v, want %v", v, got.Proxies[0].Router, want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		// Syntax, reported by go-uci with the line found by syntaxLine.
		{
			name: "unterminated quote",
			in:   island("option verify 'probe"),
			want: []string{"ndproxy: line 6: syntax error: unterminated quoted string"},
		},
		{
			name: "not a keyword",
			in:   "config proxy 'x'\n\toption upstream 'a'\n\tupstream 'b'\n",
			want: []string{`ndproxy: line 3: syntax error: expected keyword (package, config, option, list) or eof, got "upstream '…"`},
		},
		{
			name: "option before any section",
			in:   "# first\noption upstream 'a'\n",
			want: []string{"ndproxy: line 2: syntax error: expected package or config token, got (Option \"option\" 14)"},
		},
		{
			name: "package line",
			in:   "package 'ndproxy'\n",
			want: []string{"ndproxy: line 1: syntax error: UCI imports/exports are not yet supported"},
		},

		// Sections.
		{
			name: "unknown section type",
			in:   "config proxies 'x'\nconfig proxies\n",
			want: []string{
				`ndproxy.x: unknown section type "proxies"; allowed: global, proxy, mdns, wireguard`,
				`ndproxy.@proxies[1]: unknown section type "proxies"; allowed: global, proxy, mdns, wireguard`,
			},
		},
		{
			name: "second global section",
			in:   "config global 'g'\nconfig global\n\toption log_level 'debug'\n",
			want: []string{"ndproxy.@global[1]: only one global section is allowed; the first is ndproxy.g"},
		},
		{
			name: "section name UCI would refuse",
			in:   "config proxy 'is-land'\n\toption upstream 'wlan0'\n\tlist downstream 'eth0'\n\tlist prefix '2001:db8::/64'\n",
			want: []string{`ndproxy.@proxy[0]: section name "is-land" is not valid: use letters, digits and _`},
		},

		// Options in general.
		{
			name: "unknown option close to a known one",
			in:   island("option upsteam 'wlan0'"),
			want: []string{"ndproxy.island.upsteam: unknown option; did you mean upstream?"},
		},
		{
			name: "unknown option",
			in:   island("option interface 'wlan0'"),
			want: []string{"ndproxy.island.interface: unknown option; a proxy section takes " +
				"enabled, upstream, downstream, prefix, prefix_from, verify, route, route_metric, router, override, " +
				"valid_ttl, invalid_ttl, probe_timeout, probe_retries, ra_relay, ra_onlink, ra_dns, ra_interval, ra_holddown"},
		},
		{
			name: "unknown global option",
			in:   "config global\n\toption loglevel 'debug'\n\toption pidfile '/x'\n",
			want: []string{
				"ndproxy.@global[0].loglevel: unknown option; did you mean log_level?",
				"ndproxy.@global[0].pidfile: unknown option; a global section takes log_level, socket",
			},
		},
		{
			name: "list for a scalar option",
			in:   island("list verify 'probe'"),
			want: []string{`ndproxy.island.verify: takes a single value; write it as "option verify", not as a list`},
		},
		{
			name: "option then list for a scalar option",
			in:   island("option upstream 'wlan0'", "list upstream 'wlan1'"),
			want: []string{`ndproxy.island.upstream: takes a single value; write it as "option upstream", not as a list`},
		},
		{
			name: "missing upstream and prefix",
			in:   "config proxy 'island'\n\tlist downstream 'eth0'\n",
			want: []string{
				"ndproxy.island.upstream: missing; name the interface to answer Neighbor Solicitations on",
				"ndproxy.island.prefix: missing; give at least one IPv6 prefix to proxy, like 2001:db8:abc:123:40::/76, or an interface in prefix_from to take them from",
			},
		},

		// Interfaces.
		{
			name: "bad interface names",
			in: `
config proxy 'island'
	option upstream 'wlan0:1'
	list downstream 'eth/0'
	list downstream 'a b'
	list downstream '1234567890123456'
	list downstream '..'
	list prefix '2001:db8:abc:123:40::/76'
`,
			want: []string{
				`ndproxy.island.upstream: "wlan0:1" is not a valid interface name: 1 to 15 bytes without "/", ":" or whitespace, not "." or ".."`,
				`ndproxy.island.downstream: "eth/0" is not a valid interface name: 1 to 15 bytes without "/", ":" or whitespace, not "." or ".."`,
				`ndproxy.island.downstream: "a b" is not a valid interface name: 1 to 15 bytes without "/", ":" or whitespace, not "." or ".."`,
				`ndproxy.island.downstream: "1234567890123456" is not a valid interface name: 1 to 15 bytes without "/", ":" or whitespace, not "." or ".."`,
				`ndproxy.island.downstream: ".." is not a valid interface name: 1 to 15 bytes without "/", ":" or whitespace, not "." or ".."`,
			},
		},
		{
			name: "upstream is also a downstream",
			in:   island("list downstream 'wlan0'"),
			want: []string{`ndproxy.island.downstream: "wlan0" is also the upstream; a downstream must be another interface`},
		},

		// Prefixes.
		{
			name: "bad prefixes",
			in: `
config proxy 'island'
	option upstream 'wlan0'
	list downstream 'eth0'
	list prefix 'fish'
	list prefix '2001:db8::1'
	list prefix '192.0.2.0/24'
	list prefix '2001:db8::/48'
	list prefix '2001:db8:3:2:1::/64'
	list prefix 'fe80::/64'
	list prefix 'ff02::/64'
	list prefix '::/64'
	list prefix '::1/128'
	list prefix '::ffff:192.0.2.0/120'
	list prefix 'fe80::%eth0/64'
	list prefix '::/0'
`,
			want: []string{
				`ndproxy.island.prefix: "fish" is not an IPv6 prefix like 2001:db8:abc:123:40::/76`,
				`ndproxy.island.prefix: "2001:db8::1" has no length; write 2001:db8::1/128 for a single address`,
				`ndproxy.island.prefix: "192.0.2.0/24" is not an IPv6 prefix`,
				`ndproxy.island.prefix: "2001:db8::/48" is too short; the length must be 64 to 128`,
				`ndproxy.island.prefix: "2001:db8:3:2:1::/64" has host bits set; did you mean 2001:db8:3:2::/64?`,
				`ndproxy.island.prefix: "fe80::/64" is link-local; proxy a global or unique local unicast prefix`,
				`ndproxy.island.prefix: "ff02::/64" is multicast; proxy a global or unique local unicast prefix`,
				`ndproxy.island.prefix: "::/64" is the unspecified or loopback address; proxy a global or unique local unicast prefix`,
				`ndproxy.island.prefix: "::1/128" is the unspecified or loopback address; proxy a global or unique local unicast prefix`,
				`ndproxy.island.prefix: "::ffff:192.0.2.0/120" is IPv4-mapped; proxy a global or unique local unicast prefix`,
				`ndproxy.island.prefix: "fe80::%eth0/64" is not an IPv6 prefix like 2001:db8:abc:123:40::/76`,
				`ndproxy.island.prefix: "::/0" is too short; the length must be 64 to 128`,
			},
		},
		{
			name: "S2 prefix as seed 002 writes it",
			in: `
config proxy 'guests'
	option upstream 'eth0'
	option downstream 'br0'
	option prefix '2001:db8:3:2:1::/64'
	option verify 'auto'
	option route 'prefix'
`,
			want: []string{`ndproxy.guests.prefix: "2001:db8:3:2:1::/64" has host bits set; did you mean 2001:db8:3:2::/64?`},
		},
		{
			name: "the same prefix twice, spelled differently",
			in:   island("list prefix '2001:DB8:ABC:123:40::/76'", "list prefix '2001:db8:abc:123:0040:0::/76'"),
			want: []string{
				"ndproxy.island.prefix: 2001:db8:abc:123:40::/76 is listed twice",
				"ndproxy.island.prefix: 2001:db8:abc:123:40::/76 is listed twice",
			},
		},
		{
			name: "overlapping prefixes on one upstream",
			in: island() + `
config proxy
	option upstream 'wlan0'
	list downstream 'eth1'
	list prefix '2001:db8:abc:123::/64'
	list prefix '2001:db8:abc:124::/64'
`,
			want: []string{"ndproxy.@proxy[1].prefix: 2001:db8:abc:123::/64 overlaps 2001:db8:abc:123:40::/76 of ndproxy.island, which also proxies on wlan0"},
		},

		// verify and route.
		{
			name: "verify not one of",
			in:   island("option verify 'prob'"),
			want: []string{`ndproxy.island.verify: "prob" is not one of probe, auto, static`},
		},
		{
			name: "verify probe without downstream",
			in:   "config proxy 'island'\n\toption upstream 'wlan0'\n\tlist prefix '2001:db8::/64'\n",
			want: []string{"ndproxy.island.downstream: missing; verify probe needs at least one downstream interface to probe on"},
		},
		{
			name: "route not one of",
			in:   island("option route 'hosts'"),
			want: []string{`ndproxy.island.route: "hosts" is not one of host, prefix, none`},
		},
		{
			name: "route host with verify static",
			in:   island("option verify 'static'", "option route 'host'"),
			want: []string{`ndproxy.island.route: "host" routes the targets ndproxy learns, and verify static learns none; use prefix or none`},
		},
		{
			name: "route host with verify auto and no downstream",
			in:   "config proxy 'x'\n\toption upstream 'eth0'\n\tlist prefix '2001:db8::/64'\n\toption verify 'auto'\n\toption route 'host'\n",
			want: []string{`ndproxy.x.route: "host" needs a downstream interface to route the targets to`},
		},
		{
			name: "route prefix with two downstreams",
			in:   island("list downstream 'eth1'", "option route 'prefix'"),
			want: []string{`ndproxy.island.route: "prefix" needs exactly one downstream to route the prefixes to, not 2`},
		},
		{
			name: "route prefix with no downstream",
			in:   "config proxy 'x'\n\toption upstream 'eth0'\n\tlist prefix '2001:db8::/64'\n\toption verify 'static'\n\toption route 'prefix'\n",
			want: []string{`ndproxy.x.route: "prefix" needs exactly one downstream to route the prefixes to, not 0`},
		},

		// Numbers, durations, booleans.
		{
			name: "integers",
			in:   island("option route_metric '0'", "option probe_retries 'three'"),
			want: []string{
				`ndproxy.island.route_metric: "0" is out of range 1..2147483647`,
				`ndproxy.island.probe_retries: "three" is not a whole number in 1..10`,
			},
		},
		{
			name: "integers too large",
			in:   island("option route_metric '4294967296'", "option probe_retries '99999999999999999999999'"),
			want: []string{
				`ndproxy.island.route_metric: "4294967296" is out of range 1..2147483647`,
				`ndproxy.island.probe_retries: "99999999999999999999999" is out of range 1..10`,
			},
		},
		{
			name: "negative integer",
			in:   island("option probe_retries '-1'"),
			want: []string{`ndproxy.island.probe_retries: "-1" is not a whole number in 1..10`},
		},
		{
			name: "durations",
			in: island("option valid_ttl '2h'", "option invalid_ttl '1.5s'",
				"option probe_timeout '5ms'"),
			want: []string{
				`ndproxy.island.valid_ttl: "2h" is out of range 1s..1h`,
				`ndproxy.island.invalid_ttl: "1.5s" is not a duration: use a whole number with unit ms, s, m or h, like 500ms or 30s (a bare number means seconds)`,
				`ndproxy.island.probe_timeout: "5ms" is out of range 10ms..10s`,
			},
		},
		{
			name: "durations: zero, huge, wrong unit",
			in:   island("option valid_ttl '0'", "option invalid_ttl '99999999999999h'", "option probe_timeout '1us'"),
			want: []string{
				`ndproxy.island.valid_ttl: "0" is out of range 1s..1h`,
				`ndproxy.island.invalid_ttl: "99999999999999h" is out of range 0s..1h`,
				`ndproxy.island.probe_timeout: "1us" is not a duration: use a whole number with unit ms, s, m or h, like 500ms or 30s (a bare number means seconds)`,
			},
		},
		{
			name: "boolean",
			in:   island("option enabled 'maybe'", "option override 'Yes'"),
			want: []string{
				`ndproxy.island.enabled: "maybe" is not a boolean: use 1 or 0 (also yes/no, on/off, true/false, enabled/disabled)`,
				`ndproxy.island.override: "Yes" is not a boolean: use 1 or 0 (also yes/no, on/off, true/false, enabled/disabled)`,
			},
		},

		// Global.
		{
			name: "global values",
			in:   "config global\n\toption log_level 'verbose'\n\toption socket 'ndproxy.sock'\n",
			want: []string{
				`ndproxy.@global[0].log_level: "verbose" is not one of debug, info, warn, error`,
				`ndproxy.@global[0].socket: "ndproxy.sock" is not an absolute path`,
			},
		},
		{
			name: "socket path too long",
			in:   "config global 'g'\n\toption socket '/" + strings.Repeat("s", 107) + "'\n",
			want: []string{`ndproxy.g.socket: "/` + strings.Repeat("s", 107) + `" is longer than 107 bytes, the limit for a unix socket path`},
		},

		// Everything is reported, in file order, also from disabled sections.
		{
			name: "all errors at once",
			in: `
config global
	option log_level 'loud'

config proxy 'island'
	option enabled '0'
	option upstream 'wlan0'
	list downstream 'eth0'
	list prefix '2001:db8:abc:123:40::1/76'
	option verify 'prob'

config proxy
	option upstream 'eth0'
	option valid_ttl '30 s'

config relay 'ra'
`,
			want: []string{
				`ndproxy.@global[0].log_level: "loud" is not one of debug, info, warn, error`,
				`ndproxy.island.prefix: "2001:db8:abc:123:40::1/76" has host bits set; did you mean 2001:db8:abc:123:40::/76?`,
				`ndproxy.island.verify: "prob" is not one of probe, auto, static`,
				"ndproxy.@proxy[1].prefix: missing; give at least one IPv6 prefix to proxy, like 2001:db8:abc:123:40::/76, or an interface in prefix_from to take them from",
				"ndproxy.@proxy[1].downstream: missing; verify probe needs at least one downstream interface to probe on",
				`ndproxy.@proxy[1].valid_ttl: "30 s" is not a duration: use a whole number with unit ms, s, m or h, like 500ms or 30s (a bare number means seconds)`,
				`ndproxy.ra: unknown section type "relay"; allowed: global, proxy, mdns, wireguard`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("ndproxy", []byte(tt.in))
			if diff := cmp.Diff(tt.want, errorTexts(t, err)); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
			if err != nil && cfg != nil {
				t.Errorf("Parse returned a Config with its errors: %+v", cfg)
			}
		})
	}
}

// errorTexts returns the text of each error joined in err, checking that each
// is an *Error.
func errorTexts(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	var out []string
	for _, e := range errs {
		var ce *Error
		if !errors.As(e, &ce) {
			t.Errorf("%v is a %T, not an *Error", e, e)
		}
		out = append(out, e.Error())
	}
	return out
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ndproxy-test")
	if err := os.WriteFile(path, []byte(island("option verify 'bad'")), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	want := []string{`ndproxy-test.island.verify: "bad" is not one of probe, auto, static`}
	if diff := cmp.Diff(want, errorTexts(t, err)); diff != "" {
		t.Errorf("Load: the file's base name is the package (-want +got):\n%s", diff)
	}

	if _, err := Load(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load(missing) = %v, want fs.ErrNotExist", err)
	}
}

// shipped is the config file the package installs.
const shipped = "../../files/etc/config/ndproxy"

func TestShippedConfig(t *testing.T) {
	got, err := Load(shipped)
	if err != nil {
		t.Fatalf("Load(%s): %v", shipped, err)
	}
	want := &Config{Global: wantGlobal}
	if diff := cmp.Diff(want, got, cmpPrefix); diff != "" {
		t.Errorf("shipped config (-want +got):\n%s", diff)
	}

	// The examples must be usable as they stand once enabled. The first
	// two are alternatives for the same island (static addresses, or
	// addresses from relayed RAs), so they are tried one at a time.
	data, err := os.ReadFile(shipped)
	if err != nil {
		t.Fatal(err)
	}
	on := strings.Replace(string(data), "option enabled '0'", "option enabled '1'", 1)
	got, err = Parse("ndproxy", []byte(on))
	if err != nil {
		t.Fatalf("shipped config with the first example enabled: %v", err)
	}
	want = &Config{Global: wantGlobal, Proxies: []Proxy{s1(nil)}}
	if diff := cmp.Diff(want, got, cmpPrefix); diff != "" {
		t.Errorf("shipped config with the first example enabled (-want +got):\n%s", diff)
	}

	on = strings.ReplaceAll(string(data), "option enabled '0'", "option enabled '1'")
	on = strings.Replace(on, "option enabled '1'", "option enabled '0'", 1)
	got, err = Parse("ndproxy", []byte(on))
	if err != nil {
		t.Fatalf("shipped config with the other examples enabled: %v", err)
	}
	relay := proxy("relay", "wlan0", []string{"eth0"}, nil, func(p *Proxy) {
		p.RARelay = true
		p.PrefixFrom = []string{"wlan0"}
	})
	reflector := Reflector{Name: "reflector", Interfaces: []string{"wlan0", "eth0"}, IPv4: true, IPv6: true, FilterAddresses: true}
	want = &Config{Global: wantGlobal, Proxies: []Proxy{relay}, Reflectors: []Reflector{reflector}}
	if diff := cmp.Diff(want, got, cmpPrefix); diff != "" {
		t.Errorf("shipped config with the other examples enabled (-want +got):\n%s", diff)
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	for _, in := range []string{
		island(),
		island("option verify 'static'", "option route 'none'", "option router '1'",
			"option valid_ttl '90'", "option invalid_ttl '0'", "option probe_timeout '1500ms'"),
		"config global\n\toption log_level 'error'\n\toption socket \"/run/it's.sock\"\n" + island() +
			"config proxy\n\toption upstream 'eth0'\n\tlist prefix '2001:db8:3:2::/64'\n\toption verify 'auto'\n",
	} {
		cfg, err := Parse("ndproxy", []byte(in))
		if err != nil {
			t.Fatalf("Parse(%q): %v", in, err)
		}
		out, err := cfg.Marshal()
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		again, err := Parse("ndproxy", out)
		if err != nil {
			t.Fatalf("Parse(Marshal()): %v\n%s", err, out)
		}
		if diff := cmp.Diff(cfg, again, cmpPrefix, cmpAddr); diff != "" {
			t.Errorf("Parse(Marshal(cfg)) (-cfg +got):\n%s\n%s", diff, out)
		}
	}
}

func TestMarshalRefuses(t *testing.T) {
	for _, c := range []*Config{
		{Global: Global{LogLevel: "info", Socket: ""}},
		{Global: Global{LogLevel: "info", Socket: `/a'b"c`}},
		{Global: Global{LogLevel: "info", Socket: `/a\b`}},
		{Global: wantGlobal, Proxies: []Proxy{s1(func(p *Proxy) { p.Name = "is-land" })}},
		{Global: wantGlobal, Proxies: []Proxy{s1(func(p *Proxy) { p.ProbeTimeout = time.Microsecond })}},
	} {
		if out, err := c.Marshal(); err == nil {
			t.Errorf("Marshal(%+v) = %q, want an error", c, out)
		}
	}
}

func FuzzParse(f *testing.F) {
	data, err := os.ReadFile(shipped)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		string(data),
		island(),
		island("option verify 'auto'", "option route 'prefix'", "option route_metric '1'"),
		"config global\n\toption log_level debug\nconfig proxy\n\toption upstream a\n\tlist prefix 2001:db8::/64\n\toption verify static",
		"config proxy 'x'\n\toption upstream 'wlan0\n",
		"config proxy 'a'\nconfig proxy '@proxy[0]'\n\toption x \"y\\\"\"\n",
		"package x\n",
		"config mdns\n\tlist interface a\n\tlist interface b\n\tlist reachable fd00::/8\nconfig mdns 'm'\n\tlist interface c\n",
		"config wireguard\n\toption enabled 0\n\toption device wg0\nconfig wireguard\n\toption device wg1\n\toption handshake_timeout 3m\n\toption ra_advertise 1\n\tlist ra_dns 2001:db8::53\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		cfg, err := Parse("ndproxy", in)
		if err != nil {
			errorTexts(t, err) // every problem is an *Error
			return
		}
		out, err := cfg.Marshal()
		if err != nil {
			return // a value only go-uci's quirks let in; see quote
		}
		again, err := Parse("ndproxy", out)
		if err != nil {
			t.Fatalf("Parse(Marshal(cfg)): %v\n%s", err, out)
		}
		// Disabled sections are not marshalled, so anonymous ones may be
		// numbered afresh.
		renumbered := cmp.FilterPath(func(p cmp.Path) bool {
			return p.Last().String() == ".Name"
		}, cmp.Comparer(func(a, b string) bool {
			return a == b || strings.HasPrefix(a, "@proxy[") && strings.HasPrefix(b, "@proxy[") ||
				strings.HasPrefix(a, "@mdns[") && strings.HasPrefix(b, "@mdns[") ||
				strings.HasPrefix(a, "@wireguard[") && strings.HasPrefix(b, "@wireguard[")
		}))
		if diff := cmp.Diff(cfg, again, cmpPrefix, cmpAddr, renumbered); diff != "" {
			t.Fatalf("Parse(Marshal(cfg)) (-cfg +got):\n%s\n%s", diff, out)
		}
	})
}

// TestDocExamples parses every example file in docs/config.md: each fenced
// block that starts with "config".
func TestDocExamples(t *testing.T) {
	doc, err := os.ReadFile("../../docs/config.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := strings.Split(string(doc), "```")
	n := 0
	for i := 1; i < len(blocks); i += 2 {
		block := strings.TrimPrefix(blocks[i], "\n")
		if !strings.HasPrefix(block, "config ") {
			continue
		}
		n++
		if _, err := Parse("ndproxy", []byte(block)); err != nil {
			t.Errorf("example %d:\n%s\nParse: %v", n, block, err)
		}
	}
	if n < 4 {
		t.Errorf("found %d examples in docs/config.md, want at least 4", n)
	}
}
