package wg

import (
	"net/netip"
	"testing"
)

// The vectors are documented in docs/wireguard.md, computed independently
// with Python's hashlib.blake2s; the all-zero key's is also wg-lla's
// published /10 vector masked to /64.
func TestLinkLocalVectors(t *testing.T) {
	for _, tt := range []struct{ key, want string }{
		{"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "fe80::b593:db41:30d1:a4e"},
		{"AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=", "fe80::7521:d4a6:145a:1738"}, // bytes 0x01..0x20
		{"HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=", "fe80::2974:d9f5:dc82:55aa"},
	} {
		k, err := ParseKey(tt.key)
		if err != nil {
			t.Fatal(err)
		}
		got := LinkLocal(k)
		if !got.IsLinkLocalUnicast() || got.As16()[2] != 0 || got.As16()[7] != 0 {
			t.Errorf("%s: %s is not in fe80::/64", tt.key, got)
		}
		if got != netip.MustParseAddr(tt.want) {
			t.Errorf("LinkLocal(%s) = %s, want %s", tt.key, got, tt.want)
		}
	}
}

func TestParseKey(t *testing.T) {
	for _, bad := range []string{"", "not base64!", "AAAA", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="} {
		if _, err := ParseKey(bad); err == nil {
			t.Errorf("ParseKey(%q) accepted", bad)
		}
	}
}

func TestCollisions(t *testing.T) {
	var a, b [32]byte
	b[0] = 1
	if c := Collisions([][32]byte{a, b}); len(c) != 0 {
		t.Fatalf("collisions among different keys: %v", c)
	}
	c := Collisions([][32]byte{a, b, a})
	if len(c) != 1 || len(c[LinkLocal(a)]) != 2 {
		t.Fatalf("a key listed twice: %v", c)
	}
}
