package config

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseWireGuard(t *testing.T) {
	for _, tt := range []struct {
		name string
		in   string
		want []WireGuard
	}{
		{
			name: "defaults",
			in:   "config wireguard 'tunnel'\n\toption device 'wg0'\n",
			want: []WireGuard{{Name: "tunnel", Device: "wg0", LinkLocal: true}},
		},
		{
			name: "every option, anonymous, and a disabled section",
			in: `config wireguard
	option device 'wg0'
	option link_local '0'
	option handshake_timeout '5m'

config wireguard 'off'
	option enabled '0'
	option device 'wg1'
`,
			want: []WireGuard{{Name: "@wireguard[0]", Device: "wg0", HandshakeTimeout: 5 * time.Minute}},
		},
		{
			name: "ndproxy the router on a tunnel",
			in: `config wireguard 'site'
	option device 'vpn6'
	option ra_advertise '1'
	list ra_dns '2001:db8:7::53'
`,
			want: []WireGuard{{Name: "site", Device: "vpn6", LinkLocal: true, RAAdvertise: true,
				RADNS: []netip.Addr{netip.MustParseAddr("2001:db8:7::53")}}},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("ndproxy", []byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, cfg.WireGuard, cmpAddr); diff != "" {
				t.Errorf("WireGuard (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseWireGuardErrors(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"config wireguard 'w'\n", "ndproxy.w.device: missing; name the WireGuard interface"},
		{"config wireguard 'w'\n\toption device 'wg 0'\n", "ndproxy.w.device: "},
		{"config wireguard 'w'\n\toption device 'wg0'\n\toption link_local 'maybe'\n", "ndproxy.w.link_local: "},
		{"config wireguard 'w'\n\toption device 'wg0'\n\toption handshake_timeout '2m'\n", "ndproxy.w.handshake_timeout: 2m is too short: 0 (off) or at least 3m"},
		{"config wireguard 'w'\n\toption device 'wg0'\n\toption handshake_timeout 'soon'\n", "ndproxy.w.handshake_timeout: \"soon\" is not a duration"},
		{"config wireguard 'w'\n\toption device 'wg0'\n\toption handshake_timeout '2d'\n", "ndproxy.w.handshake_timeout: "},
		{"config wireguard 'w'\n\toption device 'wg0'\n\toption peer 'x'\n", "ndproxy.w.peer: "},
		{"config wireguard 'w'\n\toption device 'wg0'\n\tlist ra_dns '2001:db8::53'\n", "ndproxy.w.ra_dns: is only sent with ra_advertise '1'"},
		{"config wireguard 'w'\n\toption device 'wg0'\n\toption ra_advertise '1'\n\tlist ra_dns 'fe80::53'\n", "ndproxy.w.ra_dns: \"fe80::53\" is not a global"},
		{"config wireguard 'w'\n\toption device 'wg0'\n\toption ra_advertise 'sometimes'\n", "ndproxy.w.ra_advertise: "},
		{"config wireguard 'w'\n\toption device 'wg0'\n\toption ra_advertise '1'\n" +
			"config proxy 'p'\n\toption upstream 'eth0'\n\tlist downstream 'wg0'\n\toption ra_relay '1'\n",
			"ndproxy.w.ra_advertise: wg0 is also a downstream of proxy section p, which relays Router Advertisements there"},
	} {
		_, err := Parse("ndproxy", []byte(tt.in))
		errs := errorTexts(t, err)
		if len(errs) != 1 || !strings.HasPrefix(errs[0], tt.want) {
			t.Errorf("Parse(%q) = %q, want one error starting %q", tt.in, errs, tt.want)
		}
	}
}

func TestMarshalWireGuard(t *testing.T) {
	in := "config wireguard 'tunnel'\n\toption device 'wg0'\n\toption handshake_timeout '3m'\n" +
		"config wireguard\n\toption device 'wg1'\n\toption link_local '0'\n"
	cfg, err := Parse("ndproxy", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	out, err := cfg.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"config wireguard 'tunnel'\n", "\toption link_local '1'\n", "\toption handshake_timeout '3m'\n", "\toption link_local '0'\n", "\toption handshake_timeout '0s'\n"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("Marshal lacks %q:\n%s", want, out)
		}
	}
	again, err := Parse("ndproxy", out)
	if err != nil {
		t.Fatalf("Parse(Marshal()): %v\n%s", err, out)
	}
	if diff := cmp.Diff(cfg.WireGuard, again.WireGuard); diff != "" {
		t.Errorf("Parse(Marshal(cfg)) (-cfg +got):\n%s\n%s", diff, out)
	}
	bad := &Config{Global: wantGlobal, WireGuard: []WireGuard{{Name: "wg-0", Device: "wg0"}}}
	if out, err := bad.Marshal(); err == nil {
		t.Errorf("Marshal of section name wg-0 = %q, want an error", out)
	}
}
