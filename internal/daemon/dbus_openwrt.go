//go:build openwrt

package daemon

import "context"

// runDBus: OpenWrt has no D-Bus system bus and no systemd; ubus serves status
// and reload there. Leaving godbus out keeps the ipk under 2 MB.
func (d *Daemon) runDBus(context.Context) {}
