package kernel

import (
	"os"
	"path/filepath"
	"testing"
)

func writeKey(t *testing.T, root, key, val string) {
	t.Helper()
	p := filepath.Join(root, key)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(val+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestSysctlsRestoreInReverseOrder(t *testing.T) {
	root := t.TempDir()
	ra := IPv6Conf("wlan0", "accept_ra")
	fwd := IPv6Conf("all", "forwarding")
	writeKey(t, root, ra, "1")
	writeKey(t, root, fwd, "0")

	s := NewSysctls(root, "")
	for _, kv := range [][2]string{{ra, "2"}, {fwd, "1"}, {fwd, "1"}} {
		if err := s.Set(kv[0], kv[1]); err != nil {
			t.Fatal(err)
		}
	}
	owned := s.Owned()
	if len(owned) != 2 || owned[0].Key != ra || owned[1].Key != fwd {
		t.Fatalf("owned = %+v, want accept_ra then forwarding", owned)
	}
	if err := s.Restore(); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{ra: "1", fwd: "0"} {
		if got, _ := s.Read(key); got != want {
			t.Errorf("%s = %q after restore, want %q", key, got, want)
		}
	}
}

func TestSysctlsRestoreLeavesForeignChanges(t *testing.T) {
	root := t.TempDir()
	fwd := IPv6Conf("all", "forwarding")
	gone := IPv6Conf("eth9", "accept_ra")
	writeKey(t, root, fwd, "0")
	writeKey(t, root, gone, "1")

	s := NewSysctls(root, "")
	if err := s.Set(fwd, "1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Set(gone, "2"); err != nil {
		t.Fatal(err)
	}
	// Someone else sets forwarding to 2 after us; eth9 disappears.
	writeKey(t, root, fwd, "2")
	if err := os.RemoveAll(filepath.Join(root, "net/ipv6/conf/eth9")); err != nil {
		t.Fatal(err)
	}
	if err := s.Restore(); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if got, _ := s.Read(fwd); got != "2" {
		t.Errorf("forwarding = %q, want the foreign value 2 kept", got)
	}
}

func TestSysctlsSurviveACrash(t *testing.T) {
	root := t.TempDir()
	state := filepath.Join(t.TempDir(), "ndproxy.sysctls")
	fwd := IPv6Conf("all", "forwarding")
	writeKey(t, root, fwd, "0")

	crashed := NewSysctls(root, state)
	if err := crashed.Set(fwd, "1"); err != nil {
		t.Fatal(err)
	}
	// The process dies here, forwarding on. The next run sees forwarding=1
	// and must still restore the host's 0.
	next := NewSysctls(root, state)
	if err := next.Set(fwd, "1"); err != nil {
		t.Fatal(err)
	}
	if err := next.Restore(); err != nil {
		t.Fatal(err)
	}
	if got, _ := next.Read(fwd); got != "0" {
		t.Fatalf("forwarding = %s after restore, want the original 0", got)
	}
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Fatalf("state file left after a clean restore: %v", err)
	}
}
