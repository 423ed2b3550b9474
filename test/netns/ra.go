package netns

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/mdlayher/ndp"
	"golang.org/x/net/ipv6"
)

// SendRA runs the test binary in the host (like TCP) to send one Router
// Advertisement on dev from the host's link-local address to all-nodes,
// with router lifetime 30 s, the RFC 4389 Proxy flag if proxied, and prefix
// as an autonomous on-link prefix. radvd cannot set the Proxy flag; the
// loop-guard tests need an RA that says it was relayed already.
func (h *Host) SendRA(dev string, proxied bool, prefix netip.Prefix) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", h.NS, exe)
	cmd.Env = append(os.Environ(), raHelperEnv+"="+fmt.Sprintf("%s %t %s", dev, proxied, prefix))
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("on %s: send RA on %s: %w: %s", h.Name, dev, err, strings.TrimSpace(string(out)))
	}
	return nil
}

const raHelperEnv = "NDPROXY_NETNS_SEND_RA"

func init() {
	v := os.Getenv(raHelperEnv)
	if v == "" {
		return
	}
	if err := sendRA(strings.Fields(v)); err != nil {
		fmt.Fprintln(os.Stderr, "netns RA helper:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func sendRA(args []string) error {
	if len(args) != 3 {
		return fmt.Errorf("want dev, proxied, prefix; got %q", args)
	}
	ifi, err := net.InterfaceByName(args[0])
	if err != nil {
		return err
	}
	proxied, err := strconv.ParseBool(args[1])
	if err != nil {
		return err
	}
	prefix, err := netip.ParsePrefix(args[2])
	if err != nil {
		return err
	}
	opts := []ndp.Option{&ndp.PrefixInformation{
		PrefixLength: uint8(prefix.Bits()), OnLink: true, AutonomousAddressConfiguration: true,
		ValidLifetime: time.Hour, PreferredLifetime: time.Hour, Prefix: prefix.Addr(),
	}}
	if len(ifi.HardwareAddr) > 0 {
		opts = append(opts, &ndp.LinkLayerAddress{Direction: ndp.Source, Addr: ifi.HardwareAddr})
	}
	b, err := ndp.MarshalMessage(&ndp.RouterAdvertisement{
		CurrentHopLimit: 64, NeighborDiscoveryProxy: proxied, RouterLifetime: 30 * time.Second, Options: opts,
	})
	if err != nil {
		return err
	}
	c, err := net.ListenPacket("ip6:ipv6-icmp", "::")
	if err != nil {
		return err
	}
	defer c.Close()
	pc := ipv6.NewPacketConn(c)
	if err := pc.SetMulticastHopLimit(255); err != nil {
		return err
	}
	_, err = pc.WriteTo(b, &ipv6.ControlMessage{IfIndex: ifi.Index, HopLimit: 255}, &net.IPAddr{IP: net.ParseIP("ff02::1")})
	return err
}
