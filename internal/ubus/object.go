package ubus

import (
	"context"
	"errors"
	"fmt"
)

// Handler answers a method call. A non-nil Table goes back as DATA (even
// with an error, as libubus allows), and then a STATUS whose code StatusOf
// picks from the error, so a handler returns a Status, possibly wrapped, to
// choose it:
//
//	return nil, fmt.Errorf("no interface %q: %w", name, ubus.StatusNotFound)
//
// ctx ends when the client closes. The caller (`ubus call`) waits 30 s by
// default.
type Handler func(ctx context.Context, req Request) (Table, error)

// Request is one call to a method of our object.
type Request struct {
	Object string
	Method string
	Args   Table
	// User and Group are the caller's, as ubusd saw them (ubusd ACL).
	User, Group string
	// Caller is the calling client's id.
	Caller uint32
}

// Method is one method of an object: its signature, listed by
// `ubus -v list`, and its handler.
type Method struct {
	Name    string
	Args    []Arg
	Handler Handler
}

// Object is an object we registered on ubus.
type Object struct {
	c       *Client
	path    string
	methods []Method

	// guarded by c.mu
	id      uint32
	hasSubs bool
}

var _ registration = (*Object)(nil)

// AddObject registers an object with methods at path, like
// ubus_add_object. ubusd refuses a path that is taken with
// StatusInvalidArgument.
func (c *Client) AddObject(ctx context.Context, path string, methods ...Method) (*Object, error) {
	if path == "" {
		return nil, errors.New("ubus add object: empty path")
	}
	seen := make(map[string]bool)
	for _, m := range methods {
		if m.Name == "" || seen[m.Name] || m.Handler == nil {
			return nil, fmt.Errorf("ubus add object %s: method %q: empty, duplicate or without handler", path, m.Name)
		}
		seen[m.Name] = true
	}
	o := &Object{c: c, path: path, methods: methods}
	err := c.registering(ctx, func(s *session) error {
		if err := o.registerLocked(ctx, s); err != nil {
			return err
		}
		c.regs = append(c.regs, o)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("ubus add object %s: %w", path, err)
	}
	return o, nil
}

// Path is the path the object was registered at.
func (o *Object) Path() string { return o.path }

// ID is the object's id on the current connection: it changes when the
// client reconnects, and is 0 while the object is not registered.
func (o *Object) ID() uint32 {
	o.c.mu.Lock()
	defer o.c.mu.Unlock()
	return o.id
}

// HasSubscribers reports whether any client is subscribed to the object, as
// ubusd last said (NOTIFY with ACTIVE).
func (o *Object) HasSubscribers() bool {
	o.c.mu.Lock()
	defer o.c.mu.Unlock()
	return o.hasSubs
}

// Notify sends a notification of type typ to the object's subscribers and
// does not wait for them, like netifd's interface notifications.
func (o *Object) Notify(ctx context.Context, typ string, data Table) error {
	s, err := o.c.session(ctx)
	if err != nil {
		return fmt.Errorf("ubus notify %s %s: %w", o.path, typ, err)
	}
	id := o.objectID()
	if id == 0 {
		return fmt.Errorf("ubus notify %s %s: object not registered", o.path, typ)
	}
	m, err := notifyMsg(id, typ, data)
	if err == nil {
		err = s.post(m)
	}
	if err != nil {
		return fmt.Errorf("ubus notify %s %s: %w", o.path, typ, err)
	}
	return nil
}

// Remove unregisters the object.
func (o *Object) Remove(ctx context.Context) error {
	if err := o.c.unregister(ctx, o); err != nil {
		return fmt.Errorf("ubus remove object %s: %w", o.path, err)
	}
	o.c.mu.Lock()
	o.id = 0
	o.c.mu.Unlock()
	return nil
}

func (o *Object) objectID() uint32 {
	o.c.mu.Lock()
	defer o.c.mu.Unlock()
	return o.id
}

func (o *Object) registerLocked(ctx context.Context, s *session) error {
	sig := make([]MethodSignature, len(o.methods))
	for i, m := range o.methods {
		sig[i] = MethodSignature{Name: m.Name, Args: m.Args}
	}
	id, err := o.c.addObjectLocked(ctx, s, o.path, sig, o)
	if err != nil {
		return err
	}
	o.c.mu.Lock()
	o.id = id
	o.c.mu.Unlock()
	return nil
}

func (o *Object) lostLocked() {
	o.c.mu.Lock()
	o.id, o.hasSubs = 0, false
	o.c.mu.Unlock()
}

// handle follows libubus's ubus_process_invoke: an unknown method is
// METHOD_NOT_FOUND, a call without DATA INVALID_ARGUMENT; the handler runs
// on its own goroutine so that a slow one holds up nothing else.
func (o *Object) handle(s *session, m Message) {
	id, _ := m.Uint32(AttrObjID)
	switch m.Type {
	case MsgNotify:
		if active, ok := m.Int8(AttrActive); ok {
			o.c.mu.Lock()
			o.hasSubs = active != 0
			o.c.mu.Unlock()
		}
		return
	case MsgInvoke:
	default:
		return
	}
	name, ok := m.String(AttrMethod)
	if !ok {
		answer(s, m, id, StatusInvalidArgument)
		return
	}
	var h Handler
	for _, meth := range o.methods {
		if meth.Name == name {
			h = meth.Handler
			break
		}
	}
	if h == nil {
		answer(s, m, id, StatusMethodNotFound)
		return
	}
	args, err := m.Table(AttrData)
	if !hasAttr(m, AttrData) || err != nil {
		answer(s, m, id, StatusInvalidArgument)
		return
	}
	req := Request{Object: o.path, Method: name, Args: args, Caller: m.Peer}
	req.User, _ = m.String(AttrUser)
	req.Group, _ = m.String(AttrGroup)

	c := o.c
	c.wg.Add(1) // the reader goroutine is counted, so Wait has not returned
	go func() {
		defer c.wg.Done()
		reply, err := h(c.ctx, req)
		if err != nil {
			c.log.Debug("method failed", "object", o.path, "method", name, "err", err)
		}
		if noReply, _ := m.Int8(AttrNoReply); noReply != 0 {
			return
		}
		st := StatusOf(err)
		if reply != nil {
			d, err := replyDataMsg(m.Header, id, reply)
			if err == nil {
				err = s.send(d)
			}
			if err != nil {
				c.log.Warn("cannot send reply", "object", o.path, "method", name, "err", err)
				st = StatusUnknownError
			}
		}
		answer(s, m, id, st)
	}()
}
