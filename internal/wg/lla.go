// Package wg holds what ndproxy knows about WireGuard peers.
package wg

import (
	"encoding/base64"
	"fmt"
	"net/netip"

	"golang.org/x/crypto/blake2s"
)

// LinkLocal derives the IPv6 link-local address of a WireGuard public key.
//
// The derivation is wg-lla's (BLAKE2s-256 of the raw 32-byte key, already a
// WireGuard primitive, with (prefix & mask) | (digest & ^mask)) applied to
// fe80::/64 rather than fe80::/10: RFC 4291 section 2.5.6 wants the 54 bits
// after fe80::/10 zero. The interface identifier is therefore bytes 8 to 15
// of the digest. Kernel WireGuard devices have no link-local address, which
// RA and DHCPv6 need; each peer's derived address goes into its allowed-ips
// as a /128.
//
// Test vector: the all-zero key (AAAA...A=) gives fe80::b593:db41:30d1:a4e.
func LinkLocal(key [32]byte) netip.Addr {
	sum := blake2s.Sum256(key[:])
	var a [16]byte
	a[0], a[1] = 0xfe, 0x80
	copy(a[8:], sum[8:16])
	return netip.AddrFrom16(a)
}

// ParseKey reads a WireGuard key as wg(8) prints it: 32 bytes in standard
// base64.
func ParseKey(s string) ([32]byte, error) {
	var k [32]byte
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return k, fmt.Errorf("%q is not a WireGuard key: %w", s, err)
	}
	if len(b) != len(k) {
		return k, fmt.Errorf("%q is not a WireGuard key: %d bytes, want 32", s, len(b))
	}
	copy(k[:], b)
	return k, nil
}

// Collisions returns, for every derived address that more than one of keys
// maps to, the keys that share it. With 64 hash bits a collision is
// astronomically unlikely by chance, so one means a key was listed twice or
// chosen to collide.
func Collisions(keys [][32]byte) map[netip.Addr][][32]byte {
	seen := map[netip.Addr][][32]byte{}
	for _, k := range keys {
		a := LinkLocal(k)
		seen[a] = append(seen[a], k)
	}
	for a, ks := range seen {
		if len(ks) < 2 {
			delete(seen, a)
		}
	}
	return seen
}
