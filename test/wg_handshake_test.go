package test

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ndproxy/ndproxy/internal/config"
	"github.com/ndproxy/ndproxy/internal/wg"
	"github.com/ndproxy/ndproxy/test/netns"
)

// derivedLinkLocal is the link-local ndproxy derives for w's key, as a /64
// as link_local puts it.
func derivedLinkLocal(t *testing.T, w *netns.WireGuard) netip.Prefix {
	t.Helper()
	k, err := wg.ParseKey(w.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return netip.PrefixFrom(wg.LinkLocal(k), 64)
}

// A derived link-local left by an ndproxy that was killed is removed by the
// next one once nobody wants it, and an identical address the admin added
// by hand is never touched. One host, three WireGuard devices:
//
//	gw: wgA  link_local 1, then 0           ndproxy's address: removed by the second run
//	    wgC  link_local 1, then no section  ndproxy's address: removed by the second run
//	    wgB  link_local 1, then 0           the admin's identical address: kept by both
func TestWireGuardLinkLocalAfterKill(t *testing.T) {
	t.Parallel()
	lab := netns.New(t)
	gw := lab.Host("gw")
	devA, devB, devC := gw.WireGuard(51830), gw.WireGuard(51831), gw.WireGuard(51832)
	llA, llB, llC := derivedLinkLocal(t, devA), derivedLinkLocal(t, devB), derivedLinkLocal(t, devC)
	gw.AddAddr(devB.Dev, llB, "nodad") // as OpenWrt's `list addresses` would

	section := func(name string, w *netns.WireGuard, linkLocal int) string {
		return fmt.Sprintf("config wireguard '%s'\n\toption device '%s'\n\toption link_local '%d'\n\n", name, w.Dev, linkLocal)
	}
	d := newDaemon(t, gw, section("a", devA, 1)+section("b", devB, 1)+section("c", devC, 1))
	d.start()
	within(t, 10*time.Second, "ndproxy puts the derived link-locals on wgA and wgC", func() error {
		if err := d.running(); err != nil {
			return err
		}
		if err := hasAddr(gw, devA.Dev, llA.Addr()); err != nil {
			return err
		}
		return hasAddr(gw, devC.Dev, llC.Addr())
	})
	// Let a reconcile after the adds pass, so the kill cannot come in the
	// middle of one.
	time.Sleep(500 * time.Millisecond)
	if err := d.proc.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = d.proc.Wait(5 * time.Second) // "signal: killed"
	d.proc = nil
	for dev, ll := range map[string]netip.Prefix{devA.Dev: llA, devB.Dev: llB, devC.Dev: llC} {
		if err := hasAddr(gw, dev, ll.Addr()); err != nil {
			t.Fatalf("bad test: after SIGKILL: %v", err)
		}
	}

	d.rewrite(section("a", devA, 0) + section("b", devB, 0))
	d.start()
	within(t, 10*time.Second, "the next ndproxy removes the killed one's link-locals", func() error {
		if err := d.running(); err != nil {
			return err
		}
		for dev, ll := range map[string]netip.Prefix{devA.Dev: llA, devC.Dev: llC} {
			if hasAddr(gw, dev, ll.Addr()) == nil {
				return fmt.Errorf("%v still on %s", ll, dev)
			}
		}
		return nil
	})
	if err := hasAddr(gw, devB.Dev, llB.Addr()); err != nil {
		t.Errorf("the admin's address was removed by the second ndproxy: %v", err)
	}
	d.stop()
	if err := hasAddr(gw, devB.Dev, llB.Addr()); err != nil {
		t.Errorf("the admin's address was removed when the second ndproxy stopped: %v", err)
	}
}

// handshake_timeout end to end, on S3's network: the workstation's peer has
// a persistent keepalive on the VPS, a second device of the workstation is a
// peer without one. Both stop (their wireguard-go ends); once the keepalive
// peer's last handshake is older than handshake_timeout, its allowed-ip is
// no longer answered for upstream nor routed, within one poll of the
// watcher. The other peer's handshake is as old, and it stays.
//
// It waits out the minimum handshake_timeout, three minutes by design, so it
// runs in parallel with the rest.
func TestWireGuardHandshakeTimeout(t *testing.T) {
	t.Parallel()
	timeout := config.MinHandshakeTimeout
	s := buildS3(t)
	ws := addr128(s.prefix, 2)
	if err := s.vpsWG.SetPeer(netns.Peer{PublicKey: s.wsWG.PublicKey, AllowedIPs: []netip.Prefix{ws}, Keepalive: 25 * time.Second}); err != nil {
		t.Fatal(err)
	}
	ctrlWG := s.ws.WireGuard(51822)
	ctrl := addr128(s.prefix, 6)
	if err := netns.Connect(s.vpsWG, s.vpsUnder, []netip.Prefix{ctrl},
		ctrlWG, netip.MustParseAddr("10.55.0.2"), []netip.Prefix{netip.MustParsePrefix("::/0")}); err != nil {
		t.Fatal(err)
	}

	d := newDaemon(t, s.vps, s.config(fmt.Sprintf("option handshake_timeout '%ds'", int(timeout.Seconds()))))
	d.start()
	reach(t, d, s.provider, ws.Addr(), "ws", 15*time.Second)
	answeredAndRouted := func(p netip.Prefix) error {
		if r := s.ownedRoute(p); !strings.Contains(r, s.vpsWG.Dev) {
			return fmt.Errorf("no route of ndproxy for %v into %s: %q", p, s.vpsWG.Dev, r)
		}
		if ok, err := s.answered(p.Addr()); err != nil || !ok {
			return fmt.Errorf("%v not answered for (err %v)", p.Addr(), err)
		}
		return nil
	}
	if !within(t, 10*time.Second, "both peers answered for and routed", func() error {
		if err := answeredAndRouted(ws); err != nil {
			return err
		}
		return answeredAndRouted(ctrl)
	}) {
		t.FailNow()
	}

	// Both hosts are switched off, as far as the VPS can tell.
	for _, w := range []*netns.WireGuard{s.wsWG, ctrlWG} {
		if err := w.Stop(); err != nil {
			t.Fatalf("stop wireguard-go of %s: %v", w.Dev, err)
		}
	}
	stopped := time.Now()
	hs := s.lastHandshakes(t)
	if hs[s.wsWG.PublicKey].IsZero() || hs[ctrlWG.PublicKey].IsZero() {
		t.Fatalf("bad test: a peer never completed a handshake: %v", hs)
	}
	deadline := hs[s.wsWG.PublicKey].Add(timeout)
	t.Logf("peers stopped %v after the keepalive peer's last handshake; it is due to go at +%v",
		stopped.Sub(hs[s.wsWG.PublicKey]).Round(time.Second), timeout)

	// The route goes first (no Neighbor Solicitation needed to see it):
	// not before the deadline, and within a poll of the watcher after it.
	// wg(8) shows handshakes in whole seconds, rounded down.
	late := deadline.Add(time.Second + wg.PollInterval + 2*time.Second)
	if err := netns.Poll(time.Until(late), func() error {
		if err := d.running(); err != nil {
			return err
		}
		if r := s.ownedRoute(ws); r != "" {
			return fmt.Errorf("route still there: %s", r)
		}
		return nil
	}); err != nil {
		t.Fatalf("the stale peer's route is not withdrawn by +%v: %v", time.Since(deadline).Round(time.Millisecond), err)
	}
	gone := time.Now()
	if gone.Before(deadline) {
		t.Errorf("the stale peer's route was withdrawn %v before its last handshake was %v old", deadline.Sub(gone).Round(time.Millisecond), timeout)
	}
	t.Logf("route withdrawn %v after the handshake timeout", gone.Sub(deadline).Round(time.Millisecond))
	if again := s.lastHandshakes(t); again[s.wsWG.PublicKey] != hs[s.wsWG.PublicKey] {
		t.Fatalf("bad test: the stopped peer made a handshake: %v, then %v", hs[s.wsWG.PublicKey], again[s.wsWG.PublicKey])
	}

	if ok, err := s.answered(ws.Addr()); err != nil || ok {
		t.Errorf("%v is still answered for after its peer went stale (err %v)", ws.Addr(), err)
	}
	if age := time.Since(hs[ctrlWG.PublicKey]); age <= timeout {
		t.Fatalf("bad test: the control peer's handshake is only %v old", age)
	}
	if err := answeredAndRouted(ctrl); err != nil {
		t.Errorf("the peer without keepalive, its handshake as old: %v", err)
	}
}

// lastHandshakes returns the VPS's latest handshake with each peer, by
// public key; the zero time for a peer that never completed one.
func (s *s3) lastHandshakes(t *testing.T) map[string]time.Time {
	t.Helper()
	out := s.vps.MustRun("wg", "show", s.vpsWG.Dev, "latest-handshakes")
	hs := map[string]time.Time{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		sec, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			t.Fatalf("wg show latest-handshakes: %q", line)
		}
		if sec != 0 {
			hs[f[0]] = time.Unix(sec, 0)
		}
	}
	return hs
}
