package netns

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Ping sends one echo request from the host to addr and waits up to a second
// for the reply. Wrap it in Poll to wait for reachability.
func (h *Host) Ping(addr netip.Addr) error {
	_, err := h.Run("ping", "-6", "-n", "-q", "-c", "1", "-W", "1", addr.String())
	return err
}

// ErrNoAnswer is returned by Resolve when nobody answered the solicitations.
var ErrNoAnswer = errors.New("no neighbor advertisement")

// Resolve makes the host's kernel resolve target on dev afresh, as any host
// on the link would: it drops the cached entry, sends one echo request to
// start Neighbor Discovery (multicast solicitations, by default three a
// second apart), and returns the link-layer address the kernel accepted, or
// ErrNoAnswer once the kernel gives up.
//
// ndisc6 is no use here: it ignores every advertisement whose source is not
// the target itself, which is every answer a proxy sends (the kernel's own
// proxy_ndp included). The kernel is the stricter judge anyway: it checks hop
// limit, flags and options as the isp or the laptop would.
func (h *Host) Resolve(target netip.Addr, dev string) (net.HardwareAddr, error) {
	_, _ = h.IP("-6", "neigh", "del", target.String(), "dev", dev) // absent is fine
	_, _ = h.Run("ping", "-6", "-n", "-q", "-c", "1", "-W", "1", "-I", dev, target.String())
	var mac net.HardwareAddr
	err := Poll(5*time.Second, func() error {
		out, err := h.IP("-j", "-6", "neigh", "show", "to", target.String(), "dev", dev)
		if err != nil {
			return fmt.Errorf("%w: %w", err, ErrGiveUp)
		}
		var entries []struct {
			LLAddr string   `json:"lladdr"`
			State  []string `json:"state"`
		}
		if err := json.Unmarshal([]byte(out), &entries); err != nil {
			return fmt.Errorf("on %s: parse ip -j neigh: %v: %w", h.Name, err, ErrGiveUp)
		}
		if len(entries) != 1 {
			return fmt.Errorf("on %s: no neighbour entry for %v on %s: %w", h.Name, target, dev, ErrGiveUp)
		}
		e := entries[0]
		switch {
		case e.LLAddr != "":
			mac, err = net.ParseMAC(e.LLAddr)
			return err
		case slices.Contains(e.State, "FAILED"):
			return fmt.Errorf("%w: %w", ErrNoAnswer, ErrGiveUp)
		default:
			return fmt.Errorf("on %s: %v on %s is %v", h.Name, target, dev, e.State)
		}
	})
	if errors.Is(err, ErrNoAnswer) {
		return nil, fmt.Errorf("on %s: %v on %s: %w", h.Name, target, dev, ErrNoAnswer)
	}
	return mac, err
}

// Router advertisement timing of Radvd: fast enough for tests, and the
// slowest radvd accepts without Mobile IPv6.
const (
	MinRAInterval = 3 * time.Second
	MaxRAInterval = 4 * time.Second
)

// Radvd runs radvd advertising on dev of a router. body is the inside of
// radvd.conf's interface block (prefix, route, RDNSS blocks and options);
// Radvd adds AdvSendAdvert and the fast intervals of MinRAInterval and
// MaxRAInterval (radvd refuses anything faster, and a MinDelayBetweenRAs below
// 3 s, unless it speaks Mobile IPv6).
//
//	isp.Radvd("lan0", `
//		AdvDefaultLifetime 6;
//		prefix 2001:db8:abc:123::/64 { AdvAutonomous on; };
//	`)
func (h *Host) Radvd(dev, body string) *Proc {
	h.lab.t.Helper()
	n := h.lab.next()
	conf := filepath.Join(h.lab.dir, fmt.Sprintf("radvd-%s-%s-%d.conf", h.Name, dev, n))
	text := fmt.Sprintf(`interface %s {
	AdvSendAdvert on;
	MinRtrAdvInterval %d;
	MaxRtrAdvInterval %d;
%s
};
`, dev, int(MinRAInterval.Seconds()), int(MaxRAInterval.Seconds()), body)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		h.lab.t.Fatalf("netns: %v", err)
	}
	if out, err := run("radvd", "-c", "-C", conf); err != nil {
		h.lab.t.Fatalf("netns: radvd rejects its config: %v\n%s\n%s", err, out, text)
	}
	pid := filepath.Join(h.lab.dir, fmt.Sprintf("radvd-%d.pid", n))
	return h.Start("radvd-"+dev, "radvd", "-n", "-d", "1", "-m", "stderr", "-C", conf, "-p", pid)
}
