package daemon

import (
	"context"
	"net/netip"
	"time"

	"github.com/ndproxy/ndproxy/internal/config"
	"github.com/ndproxy/ndproxy/internal/ra"
	"github.com/ndproxy/ndproxy/internal/world"
)

// advertInterval is the longest time between the unsolicited RAs of an
// advertiser, the proxy sections' ra_interval default: well inside the
// router lifetime (1800 s) and RDNSS lifetime (three intervals).
const advertInterval = 3 * time.Minute

// applyAdvertisers starts, updates and stops the RA advertisers of the
// wireguard sections with ra_advertise to match cfg and w.
func (d *Daemon) applyAdvertisers(ctx context.Context, cfg *config.Config, w *world.World) {
	want := map[string]ra.Config{}
	for _, s := range cfg.WireGuard {
		if s.RAAdvertise {
			want[s.Name] = advertConfig(s, w, time.Now())
		}
	}
	d.adv.apply(ctx, want, d.log, nil)
}

// advertConfig is what the advertiser of section s announces, and where:
// the prefixes of the device's addresses, each with the lifetimes its
// address has left as of now (netifd gives an ip6assign address the
// delegated prefix's), and ndproxy as the default router while this host
// has a default route through another link.
func advertConfig(s config.WireGuard, w *world.World, now time.Time) ra.Config {
	rc := ra.Config{Settings: ra.Settings{DNS: s.RADNS, Interval: advertInterval}}
	l, ok := raLink(w, s.Device)
	if !ok {
		// Down, gone, or no link-local yet: nothing to send on, and
		// nothing to change about what was announced before.
		return rc
	}
	rc.Links = []ra.Link{l}
	rc.Advert = &ra.Advert{}
	until := func(left uint32) time.Time {
		if left == world.Forever {
			return time.Time{}
		}
		return now.Add(time.Duration(left) * time.Second)
	}
	seen := map[netip.Prefix]bool{}
	for _, a := range w.AddrsOf(l.Index) {
		p := a.Prefix.Masked()
		// A /128 says nothing about a prefix; a link-local one is no
		// prefix for hosts to use.
		if a.Tentative || p.Addr().IsLinkLocalUnicast() || p.Bits() == 128 || seen[p] {
			continue
		}
		seen[p] = true
		rc.Advert.Prefixes = append(rc.Advert.Prefixes, ra.AdvPrefix{Prefix: p, ValidUntil: until(a.Valid), PreferredUntil: until(a.Preferred)})
	}
	for _, i := range w.DefaultLinks {
		if i != l.Index {
			rc.Advert.DefaultRouter = true
		}
	}
	return rc
}
