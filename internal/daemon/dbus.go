//go:build !openwrt

package daemon

import (
	"context"

	"github.com/ndproxy/ndproxy/internal/control"
	"github.com/ndproxy/ndproxy/internal/dbusapi"
	"github.com/ndproxy/ndproxy/internal/netmgr"
)

// runDBus offers status and reload on the D-Bus system bus where there is
// one (plain Linux), and follows the delegated prefixes systemd-networkd
// holds there, until ctx is done; elsewhere (OpenWrt) it returns at once.
func (d *Daemon) runDBus(ctx context.Context) {
	addr := dbusapi.SystemBusAddress()
	if addr == "" {
		d.log.Debug("no D-Bus system bus: no status over D-Bus, and prefix_from follows the devices' own addresses only")
		return
	}
	w := netmgr.New(d.log, d.poke)
	d.mu.Lock()
	d.netmgr = w
	d.mu.Unlock()
	go w.Run(ctx, addr)
	dbusapi.Run(ctx, addr, dbusHandler{d}, d.log)
}

// dbusHandler is the daemon as the bus sees it; a reload asked for over
// D-Bus is reported to systemd like one by SIGHUP.
type dbusHandler struct{ d *Daemon }

func (h dbusHandler) Status() control.Status { return h.d.Status() }

func (h dbusHandler) Reload() error { return h.d.reloadNotifying() }
