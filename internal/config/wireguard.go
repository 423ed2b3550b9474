package config

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// wireguardOptions are the options of a "wireguard" section, in
// docs/config.md order.
var wireguardOptions = []string{"enabled", "device", "link_local", "handshake_timeout", "ra_advertise", "ra_dns"}

// WireGuard is one "wireguard" section: what ndproxy does for a WireGuard
// device beyond proxying its peers' allowed-ips (which any proxy section
// with the device as a downstream does).
type WireGuard struct {
	// Name is the UCI section name, or "@wireguard[N]".
	Name string
	// Device is the WireGuard interface, kernel or userspace.
	Device string
	// LinkLocal puts the link-local address derived from the device's public
	// key on the device (kernel WireGuard devices have none).
	LinkLocal bool
	// HandshakeTimeout, when not zero, treats a peer with a persistent
	// keepalive as gone once its last handshake is older than this.
	HandshakeTimeout time.Duration
	// RAAdvertise makes ndproxy the router on the device: it sends
	// Router Advertisements for the prefixes of the device's addresses
	// (OpenWrt's ip6assign on an interface stacked on it) to each peer.
	RAAdvertise bool
	// RADNS are the recursive DNS servers those RAs announce.
	RADNS []netip.Addr
}

// wireguard reads a wireguard section; on reports whether it is enabled.
func (s *section) wireguard() (wg WireGuard, on bool) {
	s.checkKnown(wireguardOptions)
	wg = WireGuard{Name: s.name}
	on = s.boolean("enabled", true)
	if _, present := s.option("device"); !present {
		s.errorf("device", "missing; name the WireGuard interface")
	} else if v, ok := s.scalar("device"); ok {
		if err := checkIfname(v); err != nil {
			s.errorf("device", "%v", err)
		} else {
			wg.Device = v
		}
	}
	wg.LinkLocal = s.boolean("link_local", true)
	wg.HandshakeTimeout = s.duration("handshake_timeout", 0, 0, 24*time.Hour)
	if wg.HandshakeTimeout > 0 && wg.HandshakeTimeout < MinHandshakeTimeout {
		s.errorf("handshake_timeout", "%s is too short: 0 (off) or at least %s; WireGuard renews the handshake of a live peer only every 2 minutes",
			formatDuration(wg.HandshakeTimeout), formatDuration(MinHandshakeTimeout))
		wg.HandshakeTimeout = 0
	}
	wg.RAAdvertise = s.boolean("ra_advertise", false)
	wg.RADNS = s.dnsServers("ra_dns")
	if len(wg.RADNS) > 0 && !wg.RAAdvertise {
		s.errorf("ra_dns", "is only sent with ra_advertise '1'")
	}
	return wg, on
}

// MinHandshakeTimeout is the shortest handshake_timeout that does not drop
// live peers: WireGuard starts a new handshake 120 s after the last
// (REKEY_AFTER_TIME) and gives up on a session after 180 s
// (REJECT_AFTER_TIME), so a peer whose keepalives flow has a handshake
// younger than that.
const MinHandshakeTimeout = 3 * time.Minute

// wireguard writes a wireguard section.
func (w *uciWriter) wireguard(g WireGuard) {
	name := g.Name
	if strings.HasPrefix(name, "@") {
		name = "" // anonymous
	} else if !validName(name) {
		w.fail(fmt.Errorf("marshal config: wireguard section name %q is not valid: use letters, digits and _", name))
		return
	}
	w.section("wireguard", name)
	w.option("enabled", "1")
	w.option("device", g.Device)
	w.option("link_local", formatBool(g.LinkLocal))
	w.duration("handshake_timeout", g.HandshakeTimeout)
	w.option("ra_advertise", formatBool(g.RAAdvertise))
	for _, a := range g.RADNS {
		w.list("ra_dns", a.String())
	}
}
