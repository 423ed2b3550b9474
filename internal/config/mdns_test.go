package config

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseMDNS(t *testing.T) {
	for _, tt := range []struct {
		name string
		in   string
		want []Reflector
	}{
		{
			name: "defaults",
			in:   "config mdns 'home'\n\tlist interface 'wlan0'\n\tlist interface 'eth0'\n",
			want: []Reflector{{Name: "home", Interfaces: []string{"wlan0", "eth0"}, IPv4: true, IPv6: true, FilterAddresses: true}},
		},
		{
			name: "every option",
			in: `config mdns
	list interface 'lan'
	list interface 'wg0'
	list interface 'iot'
	option ipv4 '0'
	option filter_addresses 'yes'
	list reachable 'fd2f::/64'
	list reachable '192.168.7.0/24'
	list allow_service '_SSH._tcp'
	list allow_service '_ipp._tcp.local.'
	list deny_service '_airplay._tcp'

config mdns 'off'
	option enabled '0'
	list interface 'a'
	list interface 'b'
`,
			want: []Reflector{{
				Name: "@mdns[0]", Interfaces: []string{"lan", "wg0", "iot"}, IPv6: true, FilterAddresses: true,
				Reachable:     []netip.Prefix{netip.MustParsePrefix("fd2f::/64"), netip.MustParsePrefix("192.168.7.0/24")},
				AllowServices: []string{"_ssh._tcp", "_ipp._tcp"}, DenyServices: []string{"_airplay._tcp"},
			}},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse("ndproxy", []byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got.Reflectors, cmpPrefix); diff != "" {
				t.Errorf("Reflectors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseMDNSErrors(t *testing.T) {
	for _, tt := range []struct {
		name string
		in   string
		want []string
	}{
		{
			name: "one interface, listed twice (UCI keeps one)",
			in:   "config mdns 'm'\n\tlist interface 'eth0'\n\tlist interface 'eth0'\n",
			want: []string{`ndproxy.m.interface: needs at least two interfaces to reflect between`},
		},
		{
			name: "one interface",
			in:   "config mdns 'm'\n\tlist interface 'eth0'\n",
			want: []string{`ndproxy.m.interface: needs at least two interfaces to reflect between`},
		},
		{
			name: "no family",
			in:   "config mdns 'm'\n\tlist interface 'a'\n\tlist interface 'b'\n\toption ipv4 '0'\n\toption ipv6 'off'\n",
			want: []string{`ndproxy.m.ipv4: ipv4 and ipv6 are both off: nothing to reflect`},
		},
		{
			name: "bad values",
			in: `config mdns 'm'
	list interface 'a'
	list interface 'b'
	option filter_addresses 'maybe'
	list reachable 'fe80::/64'
	list reachable 'fd2f::1/64'
	list reachable 'lan'
	list allow_service 'ssh'
	list allow_service '_ipp._tcp'
	list deny_service '_ipp._tcp'
	option reflect 'yes'
`,
			want: []string{
				`ndproxy.m.reflect: unknown option; a mdns section takes enabled, interface, ipv4, ipv6, filter_addresses, reachable, allow_service, deny_service`,
				`ndproxy.m.filter_addresses: "maybe" is not a boolean: use 1 or 0 (also yes/no, on/off, true/false, enabled/disabled)`,
				`ndproxy.m.reachable: fe80::/64 overlaps the link-local addresses, which never cross links`,
				`ndproxy.m.reachable: "fd2f::1/64" has host bits set; the prefix is fd2f::/64`,
				`ndproxy.m.reachable: "lan" is not a prefix like fd2f::/64 or 192.168.7.0/24`,
				`ndproxy.m.allow_service: "ssh" is not a service type like _ssh._tcp or _ipp._tcp`,
				`ndproxy.m.deny_service: _ipp._tcp is also in allow_service`,
			},
		},
		{
			name: "reachable without filtering",
			in:   "config mdns 'm'\n\tlist interface 'a'\n\tlist interface 'b'\n\toption filter_addresses '0'\n\tlist reachable 'fd00::/8'\n",
			want: []string{`ndproxy.m.reachable: has no effect with filter_addresses off`},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("ndproxy", []byte(tt.in))
			if diff := cmp.Diff(tt.want, errorTexts(t, err)); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMarshalMDNS(t *testing.T) {
	in := island() + `
config mdns 'home'
	list interface 'wlan0'
	list interface 'eth0'
	option ipv6 '0'
	list reachable 'fd2f::/64'
	list deny_service '_airplay._tcp'

config mdns
	list interface 'lan'
	list interface 'wg0'
	option filter_addresses '0'
	list allow_service '_ssh._tcp'
`
	cfg, err := Parse("ndproxy", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	out, err := cfg.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	again, err := Parse("ndproxy", out)
	if err != nil {
		t.Fatalf("Parse(Marshal()): %v\n%s", err, out)
	}
	if diff := cmp.Diff(cfg, again, cmpPrefix); diff != "" {
		t.Errorf("Parse(Marshal(cfg)) (-cfg +got):\n%s\n%s", diff, out)
	}
}
