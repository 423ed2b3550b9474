// Package netmgrtest is a stand-in for systemd-networkd on a real
// dbus-daemon (dbustest): the part of its bus API that ndproxy reads,
// with values in the exact shape systemd 255 gives them.
//
// It exists because the systemd-networkd of this machine (Debian 12, systemd
// 252) does not publish delegated prefixes at all (docs/linux.md): a real
// networkd here could only show that ndproxy finds none. Everything it
// exports is quoted from the upstream sources named at each item; nothing
// else of networkd is imitated.
package netmgrtest

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/godbus/dbus/v5/introspect"
	"golang.org/x/sys/unix"

	"github.com/ndproxy/ndproxy/internal/netmgr"
)

// NetworkdPolicy is systemd's own bus policy for networkd, as Debian
// installs it; the bus of a test uses it so that ndproxy meets the same
// rules as on a host.
const NetworkdPolicy = "/usr/share/dbus-1/system.d/org.freedesktop.network1.conf"

// Policies returns the policy files a dbustest bus needs for the stand-in:
// networkd's own (or, where it is not installed, the same two rules of its
// default context), and one that lets root own networkd's name, which
// networkd's policy grants only to the user systemd-network.
func Policies(t testing.TB) []string {
	t.Helper()
	dir := t.TempDir()
	own := filepath.Join(dir, "standin.conf")
	rules := `<allow own="org.freedesktop.network1"/>`
	files := []string{own}
	if _, err := os.Stat(NetworkdPolicy); err == nil {
		files = append(files, NetworkdPolicy)
	} else {
		rules += `</policy><policy context="default"><allow send_destination="org.freedesktop.network1"/><allow receive_sender="org.freedesktop.network1"/>`
	}
	conf := `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><policy user="root">` + rules + `</policy></busconfig>
`
	if err := os.WriteFile(own, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return files
}

// Link is an interface as networkd describes it.
type Link struct {
	Index int
	Name  string
}

// Networkd is the stand-in, serving on its own connection.
type Networkd struct {
	conn *dbus.Conn
	// NamespaceID is what the NamespaceId property says: the inode of the
	// network namespace networkd manages.
	namespaceID uint64

	// mu protects links and prefixes.
	mu       sync.Mutex
	links    []Link
	prefixes map[int][]pd
}

type pd struct {
	prefix netip.Prefix
	valid  time.Duration // CLOCK_BOOTTIME, 0 = infinite
}

// Start connects to the bus at addr, exports networkd's manager object and
// takes its name. links are the interfaces it describes; namespaceID is the
// inode of the network namespace it claims to manage (0: leave the
// property out, as a networkd that predates it would).
func Start(t testing.TB, addr string, namespaceID uint64, links ...Link) *Networkd {
	t.Helper()
	conn, err := dbus.Connect(addr)
	if err != nil {
		t.Fatalf("stand-in networkd: %v", err)
	}
	n := &Networkd{conn: conn, namespaceID: namespaceID, links: links, prefixes: map[int][]pd{}}
	t.Cleanup(func() { conn.Close() })
	if err := conn.Export(manager{n}, netmgr.Path, netmgr.Manager); err != nil {
		t.Fatal(err)
	}
	if err := conn.Export(properties{n}, netmgr.Path, "org.freedesktop.DBus.Properties"); err != nil {
		t.Fatal(err)
	}
	if err := conn.Export(introspection, netmgr.Path, "org.freedesktop.DBus.Introspectable"); err != nil {
		t.Fatal(err)
	}
	reply, err := conn.RequestName(netmgr.Name, dbus.NameFlagDoNotQueue)
	if err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("stand-in networkd: own %s: %v %v", netmgr.Name, reply, err)
	}
	return n
}

// Stop gives up the name and the connection, as networkd does when it stops.
func (n *Networkd) Stop() { n.conn.Close() }

// SetPrefixes makes prefixes the delegated prefixes of the DHCPv6 client on
// link, valid for valid from now (0: infinite), and announces the change as
// networkd does: a PropertiesChanged of the link's DHCPv6Client State.
func (n *Networkd) SetPrefixes(link int, valid time.Duration, prefixes ...netip.Prefix) error {
	var until time.Duration
	if valid > 0 {
		until = boottime() + valid
	}
	n.mu.Lock()
	n.prefixes[link] = nil
	for _, p := range prefixes {
		n.prefixes[link] = append(n.prefixes[link], pd{prefix: p, valid: until})
	}
	n.mu.Unlock()
	state := "bound"
	if len(prefixes) == 0 {
		state = "solicitation"
	}
	// networkd-dhcp6-bus.c (255): dhcp6_client_callback_bus emits
	// PropertiesChanged("State") of org.freedesktop.network1.DHCPv6Client on
	// the link's object at every state change of the client.
	return n.conn.Emit(LinkPath(link), "org.freedesktop.DBus.Properties.PropertiesChanged",
		netmgr.DHCPv6Client, map[string]dbus.Variant{"State": dbus.MakeVariant(state)}, []string{})
}

// LinkPath is networkd's object path of a link: the index escaped as
// sd_bus_path_encode does ("2" → "_32": a leading digit is escaped).
func LinkPath(index int) dbus.ObjectPath {
	s := strconv.Itoa(index)
	return dbus.ObjectPath(fmt.Sprintf("%s/link/_%x%s", netmgr.Path, s[0], s[1:]))
}

func boottime() time.Duration {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts)
	return time.Duration(ts.Nano())
}

// DescribeJSON is what Describe() returns now.
func (n *Networkd) DescribeJSON() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	// networkd-json.c (255): manager_build_json → {"Interfaces": [...]},
	// each link_build_json with (among much else) Index, Name and, while
	// the link runs a DHCPv6 client, "DHCPv6Client" with "Lease" and, when
	// the lease has them, "Prefixes" (dhcp6_client_pd_append_json):
	// "Prefix" is JSON_BUILD_PAIR_IN6_ADDR, an array of the 16 bytes;
	// the lifetimes are JSON_BUILD_PAIR_FINITE_USEC of CLOCK_BOOTTIME
	// timestamps, absent when infinite.
	type prefix struct {
		Prefix                []int  `json:"Prefix"`
		PrefixLength          int    `json:"PrefixLength"`
		PreferredLifetimeUSec uint64 `json:"PreferredLifetimeUSec,omitempty"`
		ValidLifetimeUSec     uint64 `json:"ValidLifetimeUSec,omitempty"`
	}
	type client struct {
		Lease    map[string]uint64 `json:"Lease,omitempty"`
		Prefixes []prefix          `json:"Prefixes,omitempty"`
	}
	type link struct {
		Index               int     `json:"Index"`
		Name                string  `json:"Name"`
		Type                string  `json:"Type"`
		AdministrativeState string  `json:"AdministrativeState"`
		OperationalState    string  `json:"OperationalState"`
		DHCPv6Client        *client `json:"DHCPv6Client,omitempty"`
	}
	var d struct {
		Interfaces []link `json:"Interfaces"`
	}
	now := uint64(boottime() / time.Microsecond)
	for _, l := range n.links {
		jl := link{Index: l.Index, Name: l.Name, Type: "ether", AdministrativeState: "configured", OperationalState: "routable"}
		if ps, ok := n.prefixes[l.Index]; ok {
			jl.DHCPv6Client = &client{}
			if len(ps) > 0 {
				jl.DHCPv6Client.Lease = map[string]uint64{"LeaseTimestampUSec": now}
			}
			for _, p := range ps {
				a := p.prefix.Addr().As16()
				jp := prefix{PrefixLength: p.prefix.Bits()}
				for _, b := range a {
					jp.Prefix = append(jp.Prefix, int(b))
				}
				if p.valid > 0 {
					jp.ValidLifetimeUSec = uint64(p.valid / time.Microsecond)
					jp.PreferredLifetimeUSec = jp.ValidLifetimeUSec
				}
				jl.DHCPv6Client.Prefixes = append(jl.DHCPv6Client.Prefixes, jp)
			}
		}
		d.Interfaces = append(d.Interfaces, jl)
	}
	b, err := json.Marshal(d)
	if err != nil {
		panic(err) // plain structs
	}
	return string(b)
}

// manager is org.freedesktop.network1.Manager, of which ndproxy calls only
// Describe (networkd-manager-bus.c: "Describe", out "s").
type manager struct{ n *Networkd }

func (m manager) Describe() (string, *dbus.Error) { return m.n.DescribeJSON(), nil }

// properties is org.freedesktop.DBus.Properties of the manager object, with
// the one property ndproxy reads: NamespaceId, "t" (networkd-manager-bus.c).
type properties struct{ n *Networkd }

func (p properties) Get(iface, name string) (dbus.Variant, *dbus.Error) {
	if iface == netmgr.Manager && name == "NamespaceId" && p.n.namespaceID != 0 {
		return dbus.MakeVariant(p.n.namespaceID), nil
	}
	return dbus.Variant{}, dbus.NewError("org.freedesktop.DBus.Error.UnknownProperty", []any{"Unknown property " + name})
}

func (p properties) GetAll(iface string) (map[string]dbus.Variant, *dbus.Error) {
	out := map[string]dbus.Variant{}
	if iface == netmgr.Manager && p.n.namespaceID != 0 {
		out["NamespaceId"] = dbus.MakeVariant(p.n.namespaceID)
	}
	return out, nil
}

var introspection = introspect.NewIntrospectable(&introspect.Node{
	Name: netmgr.Path,
	Interfaces: []introspect.Interface{{
		Name:       netmgr.Manager,
		Methods:    []introspect.Method{{Name: "Describe", Args: []introspect.Arg{{Name: "json", Type: "s", Direction: "out"}}}},
		Properties: []introspect.Property{{Name: "NamespaceId", Type: "t", Access: "read"}},
	}},
})
