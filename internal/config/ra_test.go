package config

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// relay is the S1-relay section (seed 000 without static addresses).
const relay = `
config proxy 'island'
	option upstream 'wlan0'
	list downstream 'eth0'
	option ra_relay '1'
`

func TestParseRA(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want Proxy
	}{
		{
			name: "ra_relay without a prefix proxies the upstream's",
			in:   relay,
			want: proxy("island", "wlan0", []string{"eth0"}, nil, func(p *Proxy) {
				p.RARelay, p.PrefixFrom = true, []string{"wlan0"}
			}),
		},
		{
			name: "every ra option",
			in: relay + lines("option ra_onlink '1'", "list ra_dns '2001:db8::53'", "list ra_dns 'fd00::53'",
				"option ra_interval '30s'", "option ra_holddown '1h'"),
			want: proxy("island", "wlan0", []string{"eth0"}, nil, func(p *Proxy) {
				p.RARelay, p.PrefixFrom, p.RAOnLink = true, []string{"wlan0"}, true
				p.RADNS = []netip.Addr{netip.MustParseAddr("2001:db8::53"), netip.MustParseAddr("fd00::53")}
				p.RAInterval, p.RAHoldDown = 30*time.Second, time.Hour
			}),
		},
		{
			name: "a prefix given is the one proxied",
			in:   island("option ra_relay '1'"),
			want: s1(func(p *Proxy) { p.RARelay = true }),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse("ndproxy", []byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]Proxy{tc.want}, cfg.Proxies, cmpPrefix, cmpAddr); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseRAErrors(t *testing.T) {
	for _, tc := range []struct {
		in   string
		path string
	}{
		{"config proxy 'island'\n\toption upstream 'wlan0'\n\toption ra_relay '1'\n\toption verify 'auto'\n", "ndproxy.island.ra_relay"},
		{relay + lines("option ra_relay 'maybe'"), "ndproxy.island.ra_relay"},
		{relay + lines("list ra_dns 'fe80::1'"), "ndproxy.island.ra_dns"},
		{relay + lines("list ra_dns '192.0.2.53'"), "ndproxy.island.ra_dns"},
		{relay + lines("option ra_interval '3s'"), "ndproxy.island.ra_interval"},
		{relay + lines("option ra_interval '31m'"), "ndproxy.island.ra_interval"},
		{relay + lines("option ra_holddown '0'"), "ndproxy.island.ra_holddown"},
		{relay + lines("option ra_onlink 'yes please'"), "ndproxy.island.ra_onlink"},
	} {
		_, err := Parse("ndproxy", []byte(tc.in))
		var ce *Error
		if !errors.As(err, &ce) {
			t.Errorf("Parse(%q) = %v, want an error at %s", tc.in, err, tc.path)
			continue
		}
		found := false
		for _, e := range unjoin(err) {
			if errors.As(e, &ce) && ce.Path == tc.path {
				found = true
			}
		}
		if !found {
			t.Errorf("Parse(%q) = %v, want an error at %s", tc.in, err, tc.path)
		}
	}
}

// unjoin lists the errors joined in err.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func TestMarshalRA(t *testing.T) {
	for _, in := range []string{
		relay,
		relay + lines("option ra_onlink '1'", "list ra_dns '2001:db8::53'", "list ra_dns 'fd00::53'",
			"option ra_interval '30s'", "option ra_holddown '90'"),
	} {
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
		if diff := cmp.Diff(cfg, again, cmpPrefix, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
			t.Errorf("Parse(Marshal(cfg)) (-cfg +got):\n%s\n%s", diff, out)
		}
	}
}
