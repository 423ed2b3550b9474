package ubus

import (
	"context"
	"errors"
	"fmt"
)

// Event is a broadcast event (`ubus send`, `ubus listen`).
type Event struct {
	Type string // "network.interface", "ubus.object.add", ...
	Data Table
}

// Listener is an event registration made by Listen.
type Listener struct {
	c       *Client
	pattern string
	fn      func(Event)

	id uint32 // guarded by c.mu
}

var _ registration = (*Listener)(nil)

// Listen calls fn for every event whose type matches pattern: exactly, or
// as a prefix if pattern ends in '*' ("*" alone matches all). ubusd does not
// deliver a client's own events back to it. fn runs on the client's callback
// goroutine.
//
// As libubus does, Listen registers an anonymous object and asks ubusd's
// event object to route matching events to it.
func (c *Client) Listen(ctx context.Context, pattern string, fn func(Event)) (*Listener, error) {
	if pattern == "" || fn == nil {
		return nil, errors.New("ubus listen: empty pattern or nil callback")
	}
	l := &Listener{c: c, pattern: pattern, fn: fn}
	err := c.registering(ctx, func(s *session) error {
		if err := l.registerLocked(ctx, s); err != nil {
			return err
		}
		c.regs = append(c.regs, l)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("ubus listen %s: %w", pattern, err)
	}
	return l, nil
}

// Remove stops the listener.
func (l *Listener) Remove(ctx context.Context) error {
	if err := l.c.unregister(ctx, l); err != nil {
		return fmt.Errorf("ubus remove listener %s: %w", l.pattern, err)
	}
	l.c.mu.Lock()
	l.id = 0
	l.c.mu.Unlock()
	return nil
}

// Send broadcasts an event of type typ. ubusd refuses types starting with
// "ubus." (StatusPermissionDenied): those are its own.
func (c *Client) Send(ctx context.Context, typ string, data Table) error {
	s, err := c.session(ctx)
	if err == nil {
		var m Message
		if m, err = sendEventMsg(typ, data); err == nil {
			_, err = s.roundTrip(ctx, m, nil)
		}
	}
	if err != nil {
		return fmt.Errorf("ubus send %s: %w", typ, err)
	}
	return nil
}

func (l *Listener) objectID() uint32 {
	l.c.mu.Lock()
	defer l.c.mu.Unlock()
	return l.id
}

func (l *Listener) registerLocked(ctx context.Context, s *session) error {
	id, err := l.c.addObjectLocked(ctx, s, "", nil, l)
	if err != nil {
		return err
	}
	l.c.mu.Lock()
	l.id = id
	l.c.mu.Unlock()
	m, err := registerEventMsg(id, l.pattern)
	if err == nil {
		_, err = s.roundTrip(ctx, m, nil)
	}
	if err != nil {
		// Do not leave an object behind that nothing will ever reach.
		l.c.mu.Lock()
		delete(l.c.endpoints, id)
		l.c.mu.Unlock()
		s.post(removeObjectMsg(id))
		return err
	}
	return nil
}

func (l *Listener) lostLocked() {
	l.c.mu.Lock()
	l.id = 0
	l.c.mu.Unlock()
}

// handle receives an event: an INVOKE from peer 0 whose method is the event
// type. libubus answers it although ubusd drops the answer; so do we, at
// once, since the answer does not depend on the callback.
func (l *Listener) handle(s *session, m Message) {
	if m.Type != MsgInvoke {
		return
	}
	id, _ := m.Uint32(AttrObjID)
	answer(s, m, id, StatusOK)
	typ, _ := m.String(AttrMethod)
	data, err := m.Table(AttrData)
	if err != nil {
		l.c.log.Warn("dropped malformed event", "event", typ, "err", err)
		return
	}
	l.c.disp.push(func() { l.fn(Event{Type: typ, Data: data}) })
}
