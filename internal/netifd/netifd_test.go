package netifd

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/ndproxy/ndproxy/internal/ubus"
	"github.com/ndproxy/ndproxy/internal/world"
)

func table(t *testing.T, js string) ubus.Table {
	t.Helper()
	tb, err := ubus.ParseJSON([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

func dumpFixture(t *testing.T) ubus.Table {
	t.Helper()
	b, err := os.ReadFile("testdata/dump.json")
	if err != nil {
		t.Fatal(err)
	}
	return table(t, string(b))
}

var prefixCmp = cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })

func TestParseDump(t *testing.T) {
	got, err := ParseDump(dumpFixture(t))
	if err != nil {
		t.Fatal(err)
	}
	p := netip.MustParsePrefix
	want := []world.Logical{
		{Name: "lan", Up: true, Device: "br-lan", Main: "br-lan", Addrs: []netip.Prefix{p("fd7a:1:2::1/60")}},
		{Name: "wan6", Up: true, Device: "phy0-sta0", Main: "phy0-sta0",
			Addrs:     []netip.Prefix{p("2001:db8:abc:123:5054:ff:fe12:3456/64"), p("2001:db8:fff0::9/128")},
			Delegated: []netip.Prefix{p("2001:db8:77:500::/56")}},
		{Name: "guest"},
		// Stacked on a WireGuard device, waiting for DHCPv6: no
		// l3_device yet, but the main device is known.
		{Name: "wg0dhcp", Main: "wg0"},
	}
	if diff := cmp.Diff(want, got, prefixCmp); diff != "" {
		t.Fatalf("ParseDump (-want +got):\n%s", diff)
	}
}

func TestParseBad(t *testing.T) {
	for name, js := range map[string]string{
		"no name":     `{"up": true}`,
		"bad address": `{"interface": "wan6", "up": true, "ipv6-address": [{"address": "2001:db8::zz", "mask": 64}]}`,
		"ipv4 as v6":  `{"interface": "wan6", "up": true, "ipv6-address": [{"address": "10.0.0.1", "mask": 8}]}`,
		"bad mask":    `{"interface": "wan6", "up": true, "ipv6-prefix": [{"address": "2001:db8::", "mask": 129}]}`,
		"wrong type":  `{"interface": "wan6", "up": "yes"}`,
	} {
		if _, err := ParseStatus(table(t, js)); err == nil {
			t.Errorf("%s: parsed without error", name)
		}
	}
}

// fakeNetifd answers dump from a table; it stands in for ubusd+netifd at the
// edge where the watcher calls them.
type fakeNetifd struct {
	dump  atomic.Value // ubus.Table
	calls atomic.Int32
}

func (f *fakeNetifd) Call(_ context.Context, object, method string, _ ubus.Table) (ubus.Table, error) {
	f.calls.Add(1)
	if object != Object || method != "dump" {
		return nil, ubus.StatusMethodNotFound
	}
	return f.dump.Load().(ubus.Table), nil
}

func TestWatcher(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pokes := make(chan struct{}, 16)
	w := newWatcher(slog.New(slog.NewTextHandler(io.Discard, nil)), func() { pokes <- struct{}{} })
	if w.Interfaces() != nil {
		t.Fatal("interfaces known before the first dump")
	}
	f := &fakeNetifd{}
	f.dump.Store(dumpFixture(t))
	go w.run(ctx, f)

	waitPoke := func(what string) {
		t.Helper()
		select {
		case <-pokes:
		case <-time.After(5 * time.Second):
			t.Fatalf("no poke after %s", what)
		}
	}
	w.requestResync() // the subscription attached
	waitPoke("attach")
	if got := len(w.Interfaces()); got != 4 {
		t.Fatalf("%d interfaces after the dump, want 4", got)
	}

	// Renumbering arrives as interface.update with the full status.
	w.notify(ubus.Notification{Type: "interface.update", Data: table(t,
		`{"interface": "wan6", "up": true, "l3_device": "phy0-sta0", "updated": ["addresses"],
		  "ipv6-address": [{"address": "2001:db8:beef:1::5", "mask": 64}], "ipv6-prefix": []}`)})
	waitPoke("update")
	wan6 := w.Interfaces()[2]
	if wan6.Name != "wan6" || len(wan6.Addrs) != 1 || wan6.Addrs[0] != netip.MustParsePrefix("2001:db8:beef:1::5/64") || len(wan6.Delegated) != 0 {
		t.Fatalf("wan6 after update: %+v", wan6)
	}

	w.notify(ubus.Notification{Type: "interface.down", Data: table(t, `{"interface": "wan6", "up": false}`)})
	waitPoke("down")
	if wan6 := w.Interfaces()[2]; wan6.Up || wan6.Device != "" {
		t.Fatalf("wan6 after down: %+v", wan6)
	}

	// An unreadable notification is not applied; it forces a dump.
	before := f.calls.Load()
	w.notify(ubus.Notification{Type: "interface.update", Data: table(t, `{"up": true}`)})
	waitPoke("resync")
	if f.calls.Load() != before+1 {
		t.Fatalf("no dump after a bad notification")
	}
	if wan6 := w.Interfaces()[2]; !wan6.Up || wan6.Device != "phy0-sta0" {
		t.Fatalf("wan6 after resync: %+v, want the dump's state", wan6)
	}
}
