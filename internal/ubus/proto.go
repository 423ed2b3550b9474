package ubus

import (
	"errors"
	"fmt"
)

// The messages a client sends, built exactly as libubus builds them
// (attribute order included), so that they match the recorded traffic byte
// for byte. Seq and Peer are filled in by the session.

// eventObjectID is ubusd's built-in event object (ubusmsg.h
// UBUS_SYSTEM_OBJECT_EVENT): "register" a listener, "send" an event.
const eventObjectID = 1

// lookupMsg finds objects by path (ubus_lookup); a trailing '*' matches a
// prefix and an empty path every object.
func lookupMsg(path string) Message {
	m := Message{Header: Header{Type: MsgLookup}}
	if path != "" {
		m.AddString(AttrObjPath, path)
	}
	return m
}

// invokeMsg calls a method (ubus_invoke_async_fd). DATA is always present,
// empty for no arguments: libubus handlers refuse an INVOKE without it.
func invokeMsg(obj uint32, method string, args Table) (Message, error) {
	m := Message{Header: Header{Type: MsgInvoke, Peer: obj}}
	m.AddUint32(AttrObjID, obj)
	m.AddString(AttrMethod, method)
	return m, m.AddTable(AttrData, args)
}

// addObjectMsg registers an object (ubus_add_object). Without a path the
// object is anonymous: ubusd gives it an id, lists it nowhere, and routes
// events and notifications to it.
func addObjectMsg(path string, methods []MethodSignature) (Message, error) {
	m := Message{Header: Header{Type: MsgAddObject}}
	if path == "" {
		return m, nil
	}
	m.AddString(AttrObjPath, path)
	return m, m.AddTable(AttrSignature, signatureTable(methods))
}

// signatureTable is ubus_push_object_type: one table per method, holding an
// int32 per argument whose value is the argument's blobmsg type.
func signatureTable(methods []MethodSignature) Table {
	sig := make(Table, 0, len(methods))
	for _, ms := range methods {
		args := Table{}
		for _, a := range ms.Args {
			args = append(args, Field{Name: a.Name, Value: Int32(a.Type)})
		}
		sig = append(sig, Field{Name: ms.Name, Value: args})
	}
	return sig
}

func removeObjectMsg(obj uint32) Message {
	m := Message{Header: Header{Type: MsgRemoveObject}}
	m.AddUint32(AttrObjID, obj)
	return m
}

// subscribeMsg subscribes our object sub to target's notifications
// (__ubus_subscribe_request).
func subscribeMsg(sub, target uint32) Message {
	m := Message{Header: Header{Type: MsgSubscribe}}
	m.AddUint32(AttrObjID, sub)
	m.AddUint32(AttrTarget, target)
	return m
}

// notifyMsg sends a notification to obj's subscribers without waiting for
// their answers (ubus_notify with a negative timeout, as netifd does).
func notifyMsg(obj uint32, typ string, data Table) (Message, error) {
	m := Message{Header: Header{Type: MsgNotify, Peer: obj}}
	m.AddUint32(AttrObjID, obj)
	m.AddString(AttrMethod, typ)
	if err := m.AddTable(AttrData, data); err != nil {
		return m, err
	}
	m.AddInt8(AttrNoReply, 1)
	return m, nil
}

// registerEventMsg asks ubusd to deliver events matching pattern to our
// anonymous object obj (ubus_register_event_handler).
func registerEventMsg(obj uint32, pattern string) (Message, error) {
	return invokeMsg(eventObjectID, "register", Table{
		{Name: "object", Value: Int32(obj)},
		{Name: "pattern", Value: String(pattern)},
	})
}

// sendEventMsg broadcasts an event (ubus_send_event).
func sendEventMsg(name string, data Table) (Message, error) {
	if data == nil {
		data = Table{}
	}
	return invokeMsg(eventObjectID, "send", Table{
		{Name: "id", Value: String(name)},
		{Name: "data", Value: data},
	})
}

// replyDataMsg answers an INVOKE with data (ubus_send_reply): same seq, and
// the caller's id as peer, which ubusd swaps for our object's id.
func replyDataMsg(req Header, obj uint32, data Table) (Message, error) {
	m := Message{Header: Header{Type: MsgData, Seq: req.Seq, Peer: req.Peer}}
	m.AddUint32(AttrObjID, obj)
	return m, m.AddTable(AttrData, data)
}

// replyStatusMsg ends the answer to an INVOKE
// (ubus_complete_deferred_request). ubusd forwards it only if OBJID is ours.
func replyStatusMsg(req Header, obj uint32, st Status) Message {
	m := Message{Header: Header{Type: MsgStatus, Seq: req.Seq, Peer: req.Peer}}
	m.AddUint32(AttrStatus, uint32(st))
	m.AddUint32(AttrObjID, obj)
	return m
}

// Arg declares one method argument: its name and blobmsg type. ubusd only
// lists it (`ubus -v list`); nothing checks calls against it.
type Arg struct {
	Name string
	Type Type
}

// MethodSignature is a method's name and declared arguments.
type MethodSignature struct {
	Name string
	Args []Arg
}

// ObjectInfo describes an object found by Lookup.
type ObjectInfo struct {
	Path    string
	ID      uint32
	TypeID  uint32
	Methods []MethodSignature
}

// parseObjectInfo reads a LOOKUP reply. Like libubus (ubus_lookup_cb), it
// needs OBJPATH, OBJID and OBJTYPE.
func parseObjectInfo(m Message) (ObjectInfo, error) {
	var (
		o             ObjectInfo
		okP, okI, okT bool
	)
	o.Path, okP = m.String(AttrObjPath)
	o.ID, okI = m.Uint32(AttrObjID)
	o.TypeID, okT = m.Uint32(AttrObjType)
	if !okP || !okI || !okT {
		return o, errors.New("lookup reply without path, id or type")
	}
	sig, err := m.Table(AttrSignature)
	if err != nil {
		return o, fmt.Errorf("object %q: %w", o.Path, err)
	}
	for _, f := range sig {
		args, ok := f.Value.(Table)
		if !ok {
			continue
		}
		ms := MethodSignature{Name: f.Name}
		for _, a := range args {
			if t, ok := a.Value.(Int32); ok {
				ms.Args = append(ms.Args, Arg{Name: a.Name, Type: Type(t)})
			}
		}
		o.Methods = append(o.Methods, ms)
	}
	return o, nil
}
