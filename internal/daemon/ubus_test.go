package daemon

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ndproxy/ndproxy/internal/config"
	"github.com/ndproxy/ndproxy/internal/ubus"
)

const goodConfig = `config proxy 'island'
	option upstream 'wlan0'
	list downstream 'eth0'
	list prefix '2001:db8:abc:123:40::/76'
`

func testDaemon(t *testing.T) (*Daemon, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ndproxy")
	if err := os.WriteFile(path, []byte(goodConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return New(path, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), new(slog.LevelVar)), path
}

func method(t *testing.T, d *Daemon, name string) ubus.Handler {
	t.Helper()
	for _, m := range d.ubusMethods() {
		if m.Name == name {
			return m.Handler
		}
	}
	t.Fatalf("no ubus method %q", name)
	return nil
}

func TestUbusMethodsMatchTheList(t *testing.T) {
	d, _ := testDaemon(t)
	var names []string
	for _, m := range d.ubusMethods() {
		names = append(names, m.Name)
	}
	if strings.Join(names, ",") != strings.Join(UbusMethods, ",") {
		t.Fatalf("registered %v, UbusMethods says %v", names, UbusMethods)
	}
}

func TestUbusStatus(t *testing.T) {
	d, path := testDaemon(t)
	reply, err := method(t, d, "status")(context.Background(), ubus.Request{})
	if err != nil {
		t.Fatal(err)
	}
	m := reply.Map()
	if m["config"] != path {
		t.Errorf("config = %v, want %s", m["config"], path)
	}
	proxies, _ := m["proxies"].([]any)
	if len(proxies) != 1 {
		t.Fatalf("proxies = %v", m["proxies"])
	}
	p := proxies[0].(map[string]any)
	if p["name"] != "island" || p["state"] != "waiting" || p["upstream"] != "wlan0" {
		t.Errorf("proxy = %v", p)
	}
}

func TestUbusReload(t *testing.T) {
	d, path := testDaemon(t)
	reload := method(t, d, "reload")
	if _, err := reload(context.Background(), ubus.Request{}); err != nil {
		t.Fatalf("reload of a good file: %v", err)
	}

	bad := strings.Replace(goodConfig, "list downstream 'eth0'", "list downstream 'eth0'\n\toption verify 'prob'", 1)
	if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	reply, err := reload(context.Background(), ubus.Request{})
	if !errors.Is(err, ubus.StatusInvalidArgument) {
		t.Fatalf("reload of a bad file: err %v, want UBUS_STATUS_INVALID_ARGUMENT", err)
	}
	if msg, _ := reply.Map()["error"].(string); !strings.Contains(msg, "ndproxy.island.verify") {
		t.Fatalf("error %q does not name ndproxy.island.verify", msg)
	}
	if d.cfg.Proxies[0].Verify != config.VerifyProbe {
		t.Fatalf("the running config changed after a failed reload")
	}

	os.Remove(path)
	if _, err := reload(context.Background(), ubus.Request{}); !errors.Is(err, ubus.StatusUnknownError) {
		t.Fatalf("reload of a missing file: err %v, want UBUS_STATUS_UNKNOWN_ERROR", err)
	}
}
