package proxy

import (
	"net/netip"
	"testing"
	"time"

	"github.com/ndproxy/ndproxy/internal/config"
)

func TestCoreLearn(t *testing.T) {
	r := &recorder{}
	c := newCore(testSpec(config.VerifyProbe), r)
	host := netip.MustParseAddr("2001:db8:abc:123:41::7")

	// Outside the prefixes, our own address, another link: nothing.
	c.learn(outside, 3, t0)
	c.learn(netip.MustParseAddr("2001:db8:abc:123:40::1"), 3, t0)
	c.learn(host, 9, t0)
	want(t, r, "not ours to learn")

	// A host seen downstream is probed on its link, and once it answers it
	// is routed and answered for before anyone asked.
	c.learn(host, 3, t0)
	want(t, r, "learned", "probe "+host.String()+" on 3")
	c.learn(host, 3, t0)
	want(t, r, "learned again while probing")
	c.handleNA(host, 3, t0)
	want(t, r, "verified", "verified "+host.String()+" on 3", "join "+host.String())

	// A host found absent (probed while still tentative) is probed again
	// when it is seen again.
	late := netip.MustParseAddr("2001:db8:abc:123:42::7")
	c.learn(late, 3, t0)
	for i := 1; i <= 3; i++ {
		c.handleTimers(t0.Add(testSpec(config.VerifyProbe).Proxy.ProbeTimeout * time.Duration(i)))
	}
	if st := c.targets[late].state; st != stateAbsent {
		t.Fatalf("state %s after the probes, want absent", st)
	}
	r.take()
	c.learn(late, 3, t0.Add(2*time.Second))
	want(t, r, "absent, seen again", "probe "+late.String()+" on 3")
	if c.stats.Learned != 3 {
		t.Errorf("learned %d, want 3", c.stats.Learned)
	}
}
