package ubus

import (
	"context"
	"errors"
	"fmt"
)

// What the client registers on ubusd (objects, event listeners,
// subscriptions), how it keeps that list for replay after a reconnect, and
// how messages for our object ids reach them.

// registration is something the client re-creates after a reconnect.
type registration interface {
	// registerLocked creates it on s. Must hold c.regMu.
	registerLocked(ctx context.Context, s *session) error
	// lostLocked forgets the state that died with the connection. Must hold c.regMu.
	lostLocked()
	// objectID is its ubusd object id, 0 once removed. Must not hold c.mu.
	objectID() uint32
}

// endpoint receives what ubusd routes to one of our object ids: INVOKE,
// NOTIFY, UNSUBSCRIBE. It runs on the reader goroutine and must not block.
type endpoint interface {
	handle(s *session, m Message)
}

// registering runs f with c.regMu held and the live session.
func (c *Client) registering(ctx context.Context, f func(s *session) error) error {
	for {
		s, err := c.session(ctx)
		if err != nil {
			return err
		}
		c.regMu.Lock()
		c.mu.Lock()
		current := c.sess == s
		c.mu.Unlock()
		if !current { // a reconnect happened meanwhile; use the new session
			c.regMu.Unlock()
			continue
		}
		err = f(s)
		c.regMu.Unlock()
		return err
	}
}

// unregister removes r from the replay list and its object from ubusd.
func (c *Client) unregister(ctx context.Context, r registration) error {
	c.regMu.Lock()
	defer c.regMu.Unlock()
	i := 0
	for i < len(c.regs) && c.regs[i] != r {
		i++
	}
	if i == len(c.regs) {
		return nil // removed before
	}
	c.regs = append(c.regs[:i], c.regs[i+1:]...)
	id := r.objectID()
	c.mu.Lock()
	s := c.sess
	delete(c.endpoints, id)
	c.mu.Unlock()
	if s == nil || id == 0 {
		return nil
	}
	_, err := s.roundTrip(ctx, removeObjectMsg(id), nil)
	// Gone already, or gone with the connection: either way it is gone.
	if errors.Is(err, StatusNotFound) || errors.Is(err, StatusConnectionFailed) {
		return nil
	}
	return err
}

// addObjectLocked registers an object on s and routes its id to ep from the
// moment ubusd names it, before any message after the DATA reply is read.
// Must hold c.regMu.
func (c *Client) addObjectLocked(ctx context.Context, s *session, path string, sig []MethodSignature, ep endpoint) (uint32, error) {
	m, err := addObjectMsg(path, sig)
	if err != nil {
		return 0, err
	}
	// Both guarded by c.mu: the reader goroutine writes id, and may do so
	// after we gave up waiting.
	var (
		id        uint32
		abandoned bool
	)
	_, err = s.roundTrip(ctx, m, func(d Message) {
		v, ok := d.Uint32(AttrObjID)
		if d.Type != MsgData || !ok {
			return
		}
		c.mu.Lock()
		late := abandoned
		if !late {
			id = v
			c.endpoints[v] = ep
		}
		c.mu.Unlock()
		if late {
			s.post(removeObjectMsg(v))
		}
	})
	c.mu.Lock()
	got := id
	if err == nil && got == 0 {
		err = StatusNoData // libubus: ubus_add_object without an id
	}
	if err != nil {
		abandoned = true
		delete(c.endpoints, got)
	}
	c.mu.Unlock()
	if err != nil {
		if got != 0 {
			// An object nobody holds would still own its path on ubusd.
			s.post(removeObjectMsg(got))
		}
		return 0, err
	}
	return got, nil
}

// push handles what ubusd sends on its own: calls on our objects, events,
// notifications, subscription changes. It runs on the reader goroutine.
func (c *Client) push(s *session, m Message) {
	switch m.Type {
	case MsgInvoke, MsgNotify, MsgUnsubscribe:
	default:
		c.log.Debug("ignored message", "type", m.Type)
		return
	}
	id, ok := m.Uint32(AttrObjID)
	c.mu.Lock()
	ep := c.endpoints[id]
	c.mu.Unlock()
	if !ok || ep == nil {
		// libubus answers an INVOKE for an unknown object with a STATUS that
		// ubusd cannot route either; the caller times out.
		c.log.Debug("message for an unknown object", "type", m.Type, "object", hexID(id))
		return
	}
	ep.handle(s, m)
}

// answer sends the STATUS that ends an INVOKE, unless it asked for none.
func answer(s *session, req Message, obj uint32, st Status) {
	if noReply, _ := req.Int8(AttrNoReply); noReply != 0 {
		return
	}
	s.send(replyStatusMsg(req.Header, obj, st)) // a failure ends the session; nothing to add
}

func hexID(id uint32) string {
	return fmt.Sprintf("%08x", id)
}
