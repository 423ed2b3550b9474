package config

import "time"

// wireguardOptions are the options of a "wireguard" section, in
// docs/config.md order.
var wireguardOptions = []string{"enabled", "device", "link_local", "handshake_timeout"}

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
	return wg, on
}
