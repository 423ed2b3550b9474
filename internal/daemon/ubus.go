package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/ndproxy/ndproxy/internal/config"
	"github.com/ndproxy/ndproxy/internal/netifd"
	"github.com/ndproxy/ndproxy/internal/ubus"
)

// UbusObject is the object ndproxy registers on ubus, and UbusMethods the
// methods it has; docs/ubus.md documents them and LuCI's ACL grants them.
const UbusObject = "ndproxy"

// UbusMethods are the methods of UbusObject.
var UbusMethods = []string{"status", "reload"}

// ubusPresent reports whether this host runs ubusd (OpenWrt).
func ubusPresent() bool {
	for _, p := range []string{ubus.DefaultSocket, ubus.LegacySocket} {
		if _, err := os.Stat(p); err == nil {
			return true
		}
	}
	return false
}

// runUbus registers the ndproxy object and follows netifd, on hosts with
// ubusd, until ctx is done. ubusd that is not up yet is waited for; after the
// first connection the client itself reconnects and re-registers.
func (d *Daemon) runUbus(ctx context.Context) {
	if !ubusPresent() {
		return
	}
	var c *ubus.Client
	for {
		var err error
		if c, err = ubus.Dial(ctx, "", ubus.WithLogger(d.log)); err == nil {
			break
		}
		d.log.Warn("ubus not reachable yet, retrying", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(5 * time.Second):
		}
	}
	defer c.Close()

	if _, err := c.AddObject(ctx, UbusObject, d.ubusMethods()...); err != nil {
		d.log.Error("cannot register the ndproxy object on ubus", "err", err)
	}
	w, err := netifd.Watch(ctx, c, d.log, d.poke)
	if err != nil {
		d.log.Error("cannot follow netifd", "err", err)
	} else {
		d.mu.Lock()
		d.netifd = w
		d.mu.Unlock()
	}
	<-ctx.Done()
}

func (d *Daemon) ubusMethods() []ubus.Method {
	return []ubus.Method{
		{Name: "status", Handler: func(context.Context, ubus.Request) (ubus.Table, error) {
			t, err := ubus.Encode(d.Status())
			if err != nil {
				return nil, fmt.Errorf("%w: %v", ubus.StatusUnknownError, err)
			}
			return t, nil
		}},
		{Name: "reload", Handler: func(context.Context, ubus.Request) (ubus.Table, error) {
			err := d.Reload()
			var cfgErr *config.Error
			switch {
			case err == nil:
				return ubus.Table{}, nil
			case errors.As(err, &cfgErr):
				// The file is wrong: say what, and that the running
				// configuration stays (UBUS_STATUS_INVALID_ARGUMENT).
				return ubus.Table{}.Add("error", ubus.String(err.Error())), ubus.StatusInvalidArgument
			default:
				return ubus.Table{}.Add("error", ubus.String(err.Error())), ubus.StatusUnknownError
			}
		}},
	}
}
