package ubus

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Notification is one notification from a subscribed object, such as
// netifd's "interface.update" on network.interface.
type Notification struct {
	Type string
	Data Table
}

// Subscriber receives what a Subscription sees. Nil fields are skipped. The
// calls come one at a time, in order, on the client's callback goroutine.
type Subscriber struct {
	// Notify receives each notification.
	Notify func(Notification)
	// Attached is called each time the subscription takes hold: first, and
	// again after the object's owner or ubusd restarted. Notifications sent
	// in between are lost, so this is where to read the whole state again
	// (netifd: `network.interface dump`).
	Attached func()
	// Detached is called when the object or the connection goes away.
	Detached func()
}

// Subscription follows one object's notifications by path, whatever id the
// object has at the moment.
type Subscription struct {
	c    *Client
	path string
	h    Subscriber

	// guarded by c.mu
	id     uint32 // our anonymous subscriber object
	target uint32 // the object subscribed to; 0 while detached
}

var _ registration = (*Subscription)(nil)

// Subscribe subscribes to the notifications of the object at path. If there
// is no such object yet, the subscription waits for it: like libubus's
// auto-subscribe and odhcpd, the client watches the "ubus.object.add" event
// and subscribes again whenever an object with that path appears, which is
// also how it follows netifd restarts.
//
// Each subscription has its own anonymous subscriber object, because the
// notifications ubusd forwards name the subscriber, not the notifier.
func (c *Client) Subscribe(ctx context.Context, path string, h Subscriber) (*Subscription, error) {
	if path == "" || strings.HasSuffix(path, "*") {
		return nil, fmt.Errorf("ubus subscribe: path %q is empty or a pattern", path)
	}
	sub := &Subscription{c: c, path: path, h: h}
	err := c.registering(ctx, func(s *session) error {
		// Watch for the object before looking for it, so that one appearing
		// in between is not missed.
		if c.objAdd == nil {
			l := &Listener{c: c, pattern: "ubus.object.add", fn: c.objectAdded}
			if err := l.registerLocked(ctx, s); err != nil {
				return err
			}
			c.objAdd = l
			c.regs = append(c.regs, l)
		}
		if err := sub.registerLocked(ctx, s); err != nil {
			return err
		}
		c.regs = append(c.regs, sub)
		c.subs = append(c.subs, sub)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("ubus subscribe %s: %w", path, err)
	}
	return sub, nil
}

// Attached reports whether the subscription holds now.
func (sub *Subscription) Attached() bool {
	sub.c.mu.Lock()
	defer sub.c.mu.Unlock()
	return sub.target != 0
}

// Remove ends the subscription. Removing the subscriber object is enough:
// ubusd drops its subscriptions with it.
func (sub *Subscription) Remove(ctx context.Context) error {
	c := sub.c
	if err := c.unregister(ctx, sub); err != nil {
		return fmt.Errorf("ubus unsubscribe %s: %w", sub.path, err)
	}
	c.regMu.Lock()
	for i, s := range c.subs {
		if s == sub {
			c.subs = append(c.subs[:i], c.subs[i+1:]...)
			break
		}
	}
	c.regMu.Unlock()
	c.mu.Lock()
	sub.id, sub.target = 0, 0
	c.mu.Unlock()
	return nil
}

func (sub *Subscription) objectID() uint32 {
	sub.c.mu.Lock()
	defer sub.c.mu.Unlock()
	return sub.id
}

func (sub *Subscription) registerLocked(ctx context.Context, s *session) error {
	id, err := sub.c.addObjectLocked(ctx, s, "", nil, sub)
	if err != nil {
		return err
	}
	sub.c.mu.Lock()
	sub.id, sub.target = id, 0
	sub.c.mu.Unlock()
	return sub.attachLocked(ctx, s, 0)
}

// attachLocked subscribes to target, or to whatever object has our path if
// target is 0. An object that is not there is no error: objectAdded will
// attach when it comes. Must hold c.regMu.
func (sub *Subscription) attachLocked(ctx context.Context, s *session, target uint32) error {
	c := sub.c
	if target == 0 {
		objs, err := c.lookup(ctx, s, sub.path)
		if errors.Is(err, StatusNotFound) || err == nil && len(objs) == 0 {
			c.log.Info("waiting for ubus object to subscribe to", "object", sub.path)
			return nil
		}
		if err != nil {
			return err
		}
		target = objs[0].ID
	}
	// Mark the subscription attached as soon as the STATUS is read, so that
	// Attached comes before any notification read after it.
	_, err := s.roundTrip(ctx, subscribeMsg(sub.objectID(), target), func(r Message) {
		if st, ok := r.Uint32(AttrStatus); r.Type != MsgStatus || !ok || st != uint32(StatusOK) {
			return
		}
		c.mu.Lock()
		sub.target = target
		c.mu.Unlock()
		if sub.h.Attached != nil {
			c.disp.push(sub.h.Attached)
		}
	})
	if errors.Is(err, StatusNotFound) { // gone again already
		return nil
	}
	if err != nil {
		return err
	}
	c.log.Debug("subscribed", "object", sub.path, "id", hexID(target))
	return nil
}

func (sub *Subscription) lostLocked() {
	sub.detach(0)
	sub.c.mu.Lock()
	sub.id = 0
	sub.c.mu.Unlock()
}

// detach marks the subscription lost if it held on target (any if 0).
func (sub *Subscription) detach(target uint32) {
	c := sub.c
	c.mu.Lock()
	detached := sub.target != 0 && (target == 0 || target == sub.target)
	if detached {
		sub.target = 0
	}
	c.mu.Unlock()
	if detached && sub.h.Detached != nil {
		c.disp.push(sub.h.Detached)
	}
}

// handle receives a notification (an INVOKE to our subscriber object, with
// NO_REPLY unless the notifier waits for answers) or ubusd's UNSUBSCRIBE
// when the target object goes away.
func (sub *Subscription) handle(s *session, m Message) {
	switch m.Type {
	case MsgUnsubscribe:
		if t, ok := m.Uint32(AttrTarget); ok {
			sub.detach(t)
		}
	case MsgInvoke:
		id, _ := m.Uint32(AttrObjID)
		answer(s, m, id, StatusOK)
		typ, _ := m.String(AttrMethod)
		data, err := m.Table(AttrData)
		if err != nil {
			sub.c.log.Warn("dropped malformed notification", "object", sub.path, "type", typ, "err", err)
			return
		}
		if sub.h.Notify != nil {
			sub.c.disp.push(func() { sub.h.Notify(Notification{Type: typ, Data: data}) })
		}
	}
}

// objectAdded re-subscribes the subscriptions waiting for an object that
// just appeared. It runs on the callback goroutine.
func (c *Client) objectAdded(ev Event) {
	path, _ := ev.Data.Get("path")
	id, _ := ev.Data.Get("id")
	p, ok1 := path.(String)
	i, ok2 := id.(Int32)
	if !ok1 || !ok2 {
		return
	}
	c.regMu.Lock()
	defer c.regMu.Unlock()
	c.mu.Lock()
	s := c.sess
	c.mu.Unlock()
	if s == nil {
		return // the replay after the reconnect looks the object up
	}
	for _, sub := range c.subs {
		c.mu.Lock()
		skip := sub.path != string(p) || sub.target == uint32(i)
		c.mu.Unlock()
		if skip {
			continue
		}
		if err := sub.attachLocked(c.ctx, s, uint32(i)); err != nil {
			c.log.Warn("cannot subscribe to new object", "object", sub.path, "err", err)
		}
	}
}
