package world

import (
	"net/netip"
	"time"
)

// WireGuard is a WireGuard device of this network namespace, kernel or
// userspace, with its peers as wgctrl last read them.
type WireGuard struct {
	Name      string
	LinkIndex int
	// Read is when the peers were read; handshake ages count from it.
	Read time.Time
	// PublicKey is the device's key; zero while it has no private key.
	PublicKey [32]byte
	// LinkLocal is the address derived from PublicKey (wg.LinkLocal);
	// invalid while there is no key.
	LinkLocal netip.Addr
	Peers     []Peer
	// Routes are the IPv6 routes into the device that someone else made:
	// netifd's route_allowed_ips, the admin's. ndproxy does not duplicate them.
	Routes []netip.Prefix
}

// Peer is one WireGuard peer.
type Peer struct {
	PublicKey [32]byte
	// LinkLocal is the address derived from PublicKey (wg.LinkLocal).
	LinkLocal netip.Addr
	// AllowedIPs are the peer's IPv6 allowed-ips, masked.
	AllowedIPs []netip.Prefix
	// Keepalive is the persistent keepalive interval, zero when off.
	Keepalive time.Duration
	// LastHandshake is zero when there has been none.
	LastHandshake time.Time
}

// Gone reports whether a peer counts as gone at time at when handshakes may
// be at most timeout old: only a peer with a persistent keepalive promises
// regular handshakes, so only such a peer can be judged by their age. A zero
// timeout never judges.
func (p *Peer) Gone(timeout time.Duration, at time.Time) bool {
	if timeout <= 0 || p.Keepalive <= 0 {
		return false
	}
	return p.LastHandshake.IsZero() || at.Sub(p.LastHandshake) > timeout
}

// WireGuardByIndex returns the WireGuard device of link index i.
func (w *World) WireGuardByIndex(i int) (*WireGuard, bool) {
	for k := range w.WireGuard {
		if w.WireGuard[k].LinkIndex == i {
			return &w.WireGuard[k], true
		}
	}
	return nil, false
}
