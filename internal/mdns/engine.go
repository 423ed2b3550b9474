package mdns

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"hash/maphash"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/ndproxy/ndproxy/internal/config"
)

// Reflector runs one mdns section: per family, a socket on the group for
// each link and one for legacy queries, each with a reader goroutine that
// hands what it reads to the core and sends what the core returns.
type Reflector struct {
	log *slog.Logger
	now func() time.Time
	cfg config.Reflector
	// legacy are the legacy-query sockets by family (true: IPv4); fixed
	// after Start.
	legacy map[bool]conn
	wg     sync.WaitGroup

	// mu protects core and groups: the readers drive the core, Update and
	// Counters come from the daemon.
	mu   sync.Mutex
	core *core
	// groups are the group sockets by family and link.
	groups map[groupKey]conn
}

type groupKey struct {
	v4    bool
	index int
}

// Start opens the legacy sockets of cfg's families and starts reading. The
// links come with Update.
func Start(cfg config.Reflector, log *slog.Logger) (*Reflector, error) {
	var id [2]byte
	_, _ = rand.Read(id[:]) // legacy IDs start anywhere
	r := &Reflector{
		log:    log.With("mdns", cfg.Name),
		now:    time.Now,
		cfg:    cfg,
		legacy: map[bool]conn{},
		core:   newCore(cfg, maphash.MakeSeed(), binary.BigEndian.Uint16(id[:])),
		groups: map[groupKey]conn{},
	}
	for _, v4 := range r.families() {
		l, err := listenLegacy(v4)
		if err != nil {
			r.Close()
			return nil, err
		}
		r.legacy[v4] = l
	}
	for v4, l := range r.legacy {
		r.wg.Add(1)
		go r.read(l, v4, true)
	}
	return r, nil
}

func (r *Reflector) families() []bool {
	var f []bool
	if r.cfg.IPv6 {
		f = append(f, false)
	}
	if r.cfg.IPv4 {
		f = append(f, true)
	}
	return f
}

// Update sets the links that are ready now: it opens group sockets on new
// ones and closes those of links that went.
func (r *Reflector) Update(ifaces []Iface) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ready []Iface
	want := map[groupKey]bool{}
	for _, i := range ifaces {
		ok := false
		for _, v4 := range r.families() {
			if !i.has(v4) {
				continue
			}
			k := groupKey{v4, i.Index}
			if r.groups[k] == nil {
				c, err := listenGroup(v4, i)
				if err != nil {
					r.log.Warn("cannot listen for mDNS", "interface", i.Name, "ipv4", v4, "err", err)
					continue
				}
				r.groups[k] = c
				r.wg.Add(1)
				go r.read(c, v4, false)
				r.log.Info("reflecting", "interface", i.Name, "ipv4", v4)
			}
			want[k] = true
			ok = true
		}
		if ok {
			ready = append(ready, i)
		}
	}
	for k, c := range r.groups {
		if !want[k] {
			c.close()
			delete(r.groups, k)
			r.log.Info("not reflecting", "ifindex", k.index, "ipv4", k.v4)
		}
	}
	r.core.setIfaces(ready)
}

// Counters returns a copy of the counters.
func (r *Reflector) Counters() Counters {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.core.c.clone()
}

// Close stops the readers and closes the sockets; the kernel drops the group
// memberships with them.
func (r *Reflector) Close() {
	r.mu.Lock()
	for k, c := range r.groups {
		c.close()
		delete(r.groups, k)
	}
	r.mu.Unlock()
	for _, l := range r.legacy {
		l.close()
	}
	r.wg.Wait()
}

func (r *Reflector) read(c conn, v4, legacy bool) {
	defer r.wg.Done()
	buf := make([]byte, maxPacket+1)
	for {
		n, idx, hops, src, err := c.read(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			r.log.Warn("mDNS receive failed", "err", err)
			time.Sleep(100 * time.Millisecond) // never spin on a broken socket
			continue
		}
		r.mu.Lock()
		var outs []Out
		if n > maxPacket {
			if _, ok := r.core.ifaces[idx]; ok {
				r.core.c.Received++
				r.core.drop("too_big")
			}
		} else {
			outs = r.core.handle(Packet{Iface: idx, Src: src, HopLimit: hops, Data: buf[:n], Legacy: legacy}, r.now())
		}
		// Each packet's copies go out before the next packet is read:
		// known-answer follow-ups keep their order.
		for _, o := range outs {
			s := r.groups[groupKey{v4, o.Iface}]
			if o.Legacy {
				s = r.legacy[v4]
			}
			if s == nil {
				r.core.drop("send_failed") // the link went away just now
				continue
			}
			if err := s.write(o.Data, o.Iface, o.Dst); err != nil {
				r.core.drop("send_failed")
				r.log.Debug("mDNS send failed", "ifindex", o.Iface, "dst", o.Dst, "err", err)
			}
		}
		r.mu.Unlock()
	}
}
