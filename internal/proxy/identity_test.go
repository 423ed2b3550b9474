package proxy

import (
	"net/netip"
	"testing"
	"time"

	"github.com/ndproxy/ndproxy/internal/config"
	"github.com/ndproxy/ndproxy/internal/plan"
)

// A reload that changes only the RA relay's options keeps the engine and
// its verified targets; one that changes how targets are verified does not.
func TestIdentity(t *testing.T) {
	base := plan.Engine{Proxy: config.Proxy{Name: "island", Upstream: "wlan0", Verify: config.VerifyProbe, ValidTTL: 30 * time.Second}}
	for _, tc := range []struct {
		name string
		edit func(*config.Proxy)
		same bool
	}{
		{"ra_relay", func(p *config.Proxy) { p.RARelay = true }, true},
		{"ra_dns, ra_interval, ra_holddown, ra_onlink", func(p *config.Proxy) {
			p.RADNS = []netip.Addr{netip.MustParseAddr("2001:db8::53")}
			p.RAInterval, p.RAHoldDown, p.RAOnLink = time.Minute, time.Hour, true
		}, true},
		{"valid_ttl", func(p *config.Proxy) { p.ValidTTL = time.Minute }, false},
		{"verify", func(p *config.Proxy) { p.Verify = config.VerifyAuto }, false},
	} {
		e := base
		tc.edit(&e.Proxy)
		if got := Identity(e) == Identity(base); got != tc.same {
			t.Errorf("changing %s: same identity %v, want %v", tc.name, got, tc.same)
		}
	}
}
