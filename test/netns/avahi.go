package netns

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Avahi starts avahi-daemon on the host as hostName, on the links ifaces,
// with extra lines appended to its config file (each group under its own
// [section] header, like "[reflector]\nenable-reflector=yes"), and waits until
// it has registered its name. Each of services is the text of a service
// file (avahi.service(5)) it publishes.
//
// Several avahi-daemons on one machine need care: avahi keeps its pid file
// and socket in /run/avahi-daemon whatever the config says, and talks to the
// system D-Bus. So each runs in a mount namespace of its own (unshare -m;
// ip netns exec has already made mounts slave to the host's) with a private
// tmpfs on /run, without chroot (its config file lives in the lab's
// directory) but as the avahi user, as Debian runs it (a different user
// from ndproxy's matters for sharing port 5353), and with D-Bus off. Its
// log is the Proc's.
func (h *Host) Avahi(hostName string, ifaces []string, extra string, services ...string) *Proc {
	h.lab.t.Helper()
	n := h.lab.next()
	conf := filepath.Join(h.lab.dir, fmt.Sprintf("%s-avahi-%d.conf", h.Name, n))
	svcDir := filepath.Join(h.lab.dir, fmt.Sprintf("%s-avahi-%d.services", h.Name, n))
	if err := os.Mkdir(svcDir, 0o755); err != nil {
		h.lab.t.Fatalf("netns: %v", err)
	}
	for i, svc := range services {
		if err := os.WriteFile(filepath.Join(svcDir, fmt.Sprintf("%d.service", i)), []byte(svc), 0o644); err != nil {
			h.lab.t.Fatalf("netns: %v", err)
		}
	}
	text := fmt.Sprintf(`[server]
host-name=%s
domain-name=local
use-ipv4=yes
use-ipv6=yes
allow-interfaces=%s
enable-dbus=no

[wide-area]
enable-wide-area=no

[publish]
publish-addresses=yes
publish-workstation=no
publish-hinfo=no

%s
`, hostName, strings.Join(ifaces, ","), extra)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		h.lab.t.Fatalf("netns: %v", err)
	}
	// The service files are read from a fixed directory too: the lab's
	// is mounted over it.
	p := h.Start("avahi", "unshare", "-m", "--propagation", "private", "sh", "-c",
		`mount -t tmpfs -o mode=0755 tmpfs /run && mkdir /run/avahi-daemon && `+
			`chown avahi:avahi /run/avahi-daemon && mount --bind "$1" /etc/avahi/services && `+
			`exec avahi-daemon --no-chroot --no-rlimits --no-proc-title -f "$0"`, conf, svcDir)
	err := Poll(15*time.Second, func() error {
		if p.Exited() {
			return fmt.Errorf("avahi-daemon exited: %w", ErrGiveUp)
		}
		if !strings.Contains(p.Log(), "Server startup complete") {
			return fmt.Errorf("avahi-daemon has not registered its name yet")
		}
		return nil
	})
	if err != nil {
		h.lab.t.Fatalf("netns: avahi-daemon on %s: %v\n%s", h.Name, err, p.Log())
	}
	return p
}
