package netns

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// WireGuard is a userspace WireGuard device (wireguard-go) inside a host,
// made to look like a kernel one: no link-local address (addrgenmode none)
// and no MULTICAST flag, both set before the link goes up (the kernel gives
// a tun, ARPHRD_NONE, a random link-local on up otherwise).
//
// wireguard-go's control socket lives in /var/run/wireguard, one directory
// for every namespace, so device names are unique per run (Dev); the
// socket is removed in cleanup even when wireguard-go did not get to it.
type WireGuard struct {
	Host *Host
	// Dev is the device's name, unique across namespaces and runs.
	Dev string
	// PublicKey is the device's key, as wg(8) prints it.
	PublicKey string
	// Port is the UDP port it listens on.
	Port int
	proc *Proc
}

// wgSeq numbers the WireGuard devices of this process. Their sockets share
// one directory across namespaces, so a number per lab would give two labs
// built alike and running in parallel the same device name.
var wgSeq atomic.Int64

// WireGuard starts wireguard-go on h with a fresh key, listening on port,
// and sets the device up.
func (h *Host) WireGuard(port int) *WireGuard {
	h.lab.t.Helper()
	key, err := wgtypes.GeneratePrivateKey()
	if err != nil {
		h.lab.t.Fatalf("netns: %v", err)
	}
	w := &WireGuard{
		Host:      h,
		Dev:       fmt.Sprintf("wg%d-%d", os.Getpid()%100000, wgSeq.Add(1)),
		PublicKey: key.PublicKey().String(),
		Port:      port,
	}
	sock := filepath.Join("/var/run/wireguard", w.Dev+".sock")
	w.proc = h.StartEnv("wireguard-go-"+w.Dev, []string{"WG_PROCESS_FOREGROUND=1", "LOG_LEVEL=error"}, "wireguard-go", "-f", w.Dev)
	h.lab.t.Cleanup(func() {
		// Before the lab's own cleanup: SIGTERM makes wireguard-go remove
		// its socket; anything left would be a stale socket for later runs.
		_ = w.proc.Stop(3 * time.Second)
		os.Remove(sock)
	})
	if err := Poll(10*time.Second, func() error {
		if w.proc.Exited() {
			return fmt.Errorf("wireguard-go exited: %v: %w", w.proc.Wait(0), ErrGiveUp)
		}
		fi, err := os.Stat(sock)
		if err != nil || fi.Mode()&os.ModeSocket == 0 {
			return fmt.Errorf("no socket %s yet", sock)
		}
		return nil
	}); err != nil {
		h.lab.t.Fatalf("netns: start wireguard-go on %s: %v", h.Name, err)
	}
	keyFile := filepath.Join(h.lab.dir, w.Dev+".key")
	if err := os.WriteFile(keyFile, []byte(key.String()+"\n"), 0o600); err != nil {
		h.lab.t.Fatalf("netns: %v", err)
	}
	h.MustIP("link", "set", "dev", w.Dev, "addrgenmode", "none", "multicast", "off")
	h.MustRun("wg", "set", w.Dev, "private-key", keyFile, "listen-port", fmt.Sprint(port))
	h.SetLink(w.Dev, true)
	return w
}

// Peer is what SetPeer configures for one peer of a device.
type Peer struct {
	PublicKey  string
	AllowedIPs []netip.Prefix
	// Endpoint is "host:port", empty for a peer that calls in.
	Endpoint string
	// Keepalive is the persistent keepalive, 0 for off.
	Keepalive time.Duration
}

// SetPeer adds peer p to the device, or replaces its settings (allowed-ips
// included) if it is there.
func (w *WireGuard) SetPeer(p Peer) error {
	var ips []string
	for _, a := range p.AllowedIPs {
		ips = append(ips, a.String())
	}
	args := []string{"wg", "set", w.Dev, "peer", p.PublicKey, "allowed-ips", strings.Join(ips, ",")}
	if p.Endpoint != "" {
		args = append(args, "endpoint", p.Endpoint)
	}
	args = append(args, "persistent-keepalive", fmt.Sprint(int(p.Keepalive.Seconds())))
	_, err := w.Host.Run(args...)
	return err
}

// RemovePeer removes the peer with key pub from the device.
func (w *WireGuard) RemovePeer(pub string) error {
	_, err := w.Host.Run("wg", "set", w.Dev, "peer", pub, "remove")
	return err
}

// Connect makes a and b peers of each other, reachable over the IPv4
// addresses aAddr and bAddr (which must route between their hosts), with the
// given allowed-ips on each side. b keeps the tunnel alive every second, as
// a client behind NAT would.
func Connect(a *WireGuard, aAddr netip.Addr, aAllowed []netip.Prefix, b *WireGuard, bAddr netip.Addr, bAllowed []netip.Prefix) error {
	if err := a.SetPeer(Peer{PublicKey: b.PublicKey, AllowedIPs: aAllowed, Endpoint: netip.AddrPortFrom(bAddr, uint16(b.Port)).String()}); err != nil {
		return err
	}
	return b.SetPeer(Peer{PublicKey: a.PublicKey, AllowedIPs: bAllowed, Endpoint: netip.AddrPortFrom(aAddr, uint16(a.Port)).String(), Keepalive: time.Second})
}

// Stop ends wireguard-go, as when its host is switched off: the device and
// its socket go, and its peers hear nothing more from it. Taking the device
// down is not the same: wireguard-go goes on sending keepalives and
// handshakes over its UDP socket.
func (w *WireGuard) Stop() error {
	return w.proc.Stop(3 * time.Second)
}
