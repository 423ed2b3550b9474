package daemon

import (
	"fmt"
	"maps"
	"sync"

	"github.com/ndproxy/ndproxy/internal/config"
	"github.com/ndproxy/ndproxy/internal/control"
	"github.com/ndproxy/ndproxy/internal/mdns"
	"github.com/ndproxy/ndproxy/internal/world"
)

// reflectors are the running mDNS reflectors, one per mdns section.
type reflectors struct {
	// mu protects running: the run loop changes it, status reads it.
	mu      sync.Mutex
	running map[string]*reflector
}

type reflector struct {
	r *mdns.Reflector
	// cfg is the section it runs; any change starts a new reflector.
	cfg config.Reflector
	// devices are the links it reflects between now; waiting says, per
	// configured interface that is not among them, why.
	devices []string
	waiting map[string]string
}

// applyReflectors starts, updates and stops reflectors to match cfg, with
// the links as they are in w. A missing or down link is waited for: the next
// netlink poke brings a new snapshot.
func (d *Daemon) applyReflectors(cfg *config.Config, w *world.World) {
	m := &d.mdns
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.running == nil {
		m.running = map[string]*reflector{}
	}
	keep := map[string]bool{}
	for _, rc := range cfg.Reflectors {
		keep[rc.Name] = true
		r := m.running[rc.Name]
		if r != nil && fmt.Sprint(r.cfg) != fmt.Sprint(rc) {
			r.r.Close()
			r = nil
		}
		if r == nil {
			e, err := mdns.Start(rc, d.log)
			if err != nil {
				d.log.Error("cannot start the mDNS reflector", "mdns", rc.Name, "err", err)
				delete(m.running, rc.Name)
				continue
			}
			r = &reflector{r: e, cfg: rc}
			m.running[rc.Name] = r
		}
		var ifaces []mdns.Iface
		before := r.waiting
		r.devices, r.waiting = nil, map[string]string{}
		for _, name := range rc.Interfaces {
			i, err := mdns.LookupIface(device(w, name))
			if err != nil {
				if before[name] != err.Error() {
					d.log.Info("mDNS reflector waiting", "mdns", rc.Name, "interface", name, "for", err)
				}
				r.waiting[name] = err.Error()
				continue
			}
			ifaces = append(ifaces, i)
			r.devices = append(r.devices, i.Name)
		}
		r.r.Update(ifaces)
	}
	for name, r := range m.running {
		if !keep[name] {
			r.r.Close()
			delete(m.running, name)
			d.log.Info("mDNS reflector stopped", "mdns", name)
		}
	}
}

// device maps an OpenWrt logical interface to its device; other names are
// devices already.
func device(w *world.World, name string) string {
	if l, ok := w.LogicalByName(name); ok && l.Device != "" {
		return l.Device
	}
	return name
}

// stopReflectors closes every reflector.
func (d *Daemon) stopReflectors() {
	m := &d.mdns
	m.mu.Lock()
	defer m.mu.Unlock()
	for name, r := range m.running {
		r.r.Close()
		delete(m.running, name)
	}
}

// reflectorStatus reports the mdns sections of cfg.
func (d *Daemon) reflectorStatus(cfg *config.Config) []control.ReflectorStatus {
	m := &d.mdns
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []control.ReflectorStatus
	for _, rc := range cfg.Reflectors {
		rs := control.ReflectorStatus{Name: rc.Name, Interfaces: rc.Interfaces, State: "waiting", Reflecting: []string{}}
		if r := m.running[rc.Name]; r != nil {
			rs.Reflecting = append(rs.Reflecting, r.devices...)
			if len(r.devices) >= 2 {
				rs.State = "running"
			}
			if len(r.waiting) > 0 {
				rs.Waiting = maps.Clone(r.waiting)
			}
			c := r.r.Counters()
			rs.Counters = &c
		}
		out = append(out, rs)
	}
	return out
}
