//go:build !openwrt

package daemon

import (
	"context"

	"github.com/ndproxy/ndproxy/internal/control"
	"github.com/ndproxy/ndproxy/internal/dbusapi"
)

// runDBus offers status and reload on the D-Bus system bus where there is
// one (plain Linux), until ctx is done; elsewhere (OpenWrt) it returns at once.
func (d *Daemon) runDBus(ctx context.Context) {
	if addr := dbusapi.SystemBusAddress(); addr != "" {
		dbusapi.Run(ctx, addr, dbusHandler{d}, d.log)
	}
}

// dbusHandler is the daemon as the bus sees it; a reload asked for over
// D-Bus is reported to systemd like one by SIGHUP.
type dbusHandler struct{ d *Daemon }

func (h dbusHandler) Status() control.Status { return h.d.Status() }

func (h dbusHandler) Reload() error { return h.d.reloadNotifying() }
