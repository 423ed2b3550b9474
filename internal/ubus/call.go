package ubus

import (
	"context"
	"fmt"
)

// Lookup lists the objects at path: one path, a prefix ending in '*', or
// every object for "". A path that matches nothing is StatusNotFound.
func (c *Client) Lookup(ctx context.Context, path string) ([]ObjectInfo, error) {
	s, err := c.session(ctx)
	var objs []ObjectInfo
	if err == nil {
		objs, err = c.lookup(ctx, s, path)
	}
	if err != nil {
		return nil, fmt.Errorf("ubus lookup %s: %w", path, err)
	}
	return objs, nil
}

func (c *Client) lookup(ctx context.Context, s *session, path string) ([]ObjectInfo, error) {
	msgs, err := s.roundTrip(ctx, lookupMsg(path), nil)
	if err != nil {
		return nil, err
	}
	var objs []ObjectInfo
	for _, m := range msgs {
		o, err := parseObjectInfo(m)
		if err != nil {
			c.log.Debug("skipped lookup reply", "path", path, "err", err)
			continue
		}
		objs = append(objs, o)
	}
	return objs, nil
}

// Call looks up object and calls method on it with args (nil for none),
// like `ubus call`. It returns the first DATA reply, nil if there was none;
// libubus methods send at most one in practice. A failing method returns
// its Status as the error, with the reply if it sent one.
func (c *Client) Call(ctx context.Context, object, method string, args Table) (Table, error) {
	s, err := c.session(ctx)
	var objs []ObjectInfo
	if err == nil {
		objs, err = c.lookup(ctx, s, object)
	}
	if err == nil && len(objs) == 0 {
		err = StatusNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("ubus call %s %s: %w", object, method, err)
	}
	replies, err := c.invoke(ctx, objs[0].ID, method, args)
	var reply Table
	if len(replies) > 0 {
		reply = replies[0]
	}
	if err != nil {
		return reply, fmt.Errorf("ubus call %s %s: %w", object, method, err)
	}
	return reply, nil
}

// Invoke calls method on the object with id obj and returns every DATA
// reply, like Call without the lookup.
func (c *Client) Invoke(ctx context.Context, obj uint32, method string, args Table) ([]Table, error) {
	replies, err := c.invoke(ctx, obj, method, args)
	if err != nil {
		return replies, fmt.Errorf("ubus invoke %s %s: %w", hexID(obj), method, err)
	}
	return replies, nil
}

func (c *Client) invoke(ctx context.Context, obj uint32, method string, args Table) ([]Table, error) {
	s, err := c.session(ctx)
	if err != nil {
		return nil, err
	}
	m, err := invokeMsg(obj, method, args)
	if err != nil {
		return nil, err
	}
	msgs, err := s.roundTrip(ctx, m, nil)
	var replies []Table
	for _, d := range msgs {
		if !hasAttr(d, AttrData) {
			continue // libubus (req_data_cb) skips these too
		}
		t, perr := d.Table(AttrData)
		if perr != nil {
			return replies, perr
		}
		replies = append(replies, t)
	}
	return replies, err
}

// Ping asks ubusd for an echo: a cheap check that it still answers.
func (c *Client) Ping(ctx context.Context) error {
	s, err := c.session(ctx)
	if err == nil {
		_, err = s.roundTrip(ctx, Message{Header: Header{Type: MsgPing}}, nil)
	}
	if err != nil {
		return fmt.Errorf("ubus ping: %w", err)
	}
	return nil
}

func hasAttr(m Message, id AttrID) bool {
	_, ok := m.attr(id)
	return ok
}
