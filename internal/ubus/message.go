package ubus

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// MaxMessageLen is UBUS_MAX_MSGLEN: ubusd drops a client whose message body,
// padded, is larger, and libubus refuses to receive one.
const MaxMessageLen = 1 << 20

// headerLen is struct ubus_msghdr plus the body's own blob header: what a
// reader needs before it knows the size of the rest.
const headerLen = 12

// MsgType is a ubus message type (ubusmsg.h enum ubus_msg_type).
type MsgType uint8

// The message types.
const (
	MsgHello        MsgType = iota // ubusd → client on connect; Peer is the client's id
	MsgStatus                      // ends every request
	MsgData                        // a reply, zero or more before the STATUS
	MsgPing                        // answered with DATA echoing it
	MsgLookup                      // find objects by path
	MsgInvoke                      // call a method; ubusd forwards it to the object's owner
	MsgAddObject                   // register an object (anonymous without a path)
	MsgRemoveObject                // unregister one
	MsgSubscribe                   // subscribe an object to another's notifications
	MsgUnsubscribe                 // ...and back; ubusd sends it when the target goes away
	MsgNotify                      // notify subscribers; from ubusd: subscribers came or went
	MsgMonitor                     // a copy of someone's traffic, for monitors
)

var msgTypeNames = [...]string{"HELLO", "STATUS", "DATA", "PING", "LOOKUP", "INVOKE", "ADD_OBJECT",
	"REMOVE_OBJECT", "SUBSCRIBE", "UNSUBSCRIBE", "NOTIFY", "MONITOR"}

func (t MsgType) String() string {
	if int(t) < len(msgTypeNames) {
		return msgTypeNames[t]
	}
	return fmt.Sprintf("MSG(%d)", uint8(t))
}

// AttrID names a ubus message attribute (ubusmsg.h enum ubus_msg_attr). These
// are plain blob attributes; DATA and SIGNATURE nest blobmsg tables.
type AttrID uint8

// The message attributes.
const (
	AttrUnspec      AttrID = iota
	AttrStatus             // int32 status code
	AttrObjPath            // string
	AttrObjID              // uint32
	AttrMethod             // string: method, event or notification name
	AttrObjType            // uint32
	AttrSignature          // blobmsg table: method name → table of argument types
	AttrData               // blobmsg table: arguments, reply, event payload
	AttrTarget             // uint32: the object subscribed to
	AttrActive             // int8: the object has subscribers
	AttrNoReply            // int8: do not answer this INVOKE
	AttrSubscribers        // nested uint32s
	AttrUser               // string: the caller's user, on forwarded INVOKEs
	AttrGroup              // string: the caller's group
)

var attrNames = [...]string{"UNSPEC", "STATUS", "OBJPATH", "OBJID", "METHOD", "OBJTYPE", "SIGNATURE",
	"DATA", "TARGET", "ACTIVE", "NO_REPLY", "SUBSCRIBERS", "USER", "GROUP"}

// String names a message attribute; MONITOR attributes reuse the numbers
// and get the message attribute names.
func (id AttrID) String() string {
	if int(id) < len(attrNames) {
		return attrNames[id]
	}
	return fmt.Sprintf("ATTR(%d)", uint8(id))
}

// The attributes of a MONITOR message (ubusmsg.h enum ubus_monitor_attr),
// also plain blob attributes; MONITOR_DATA holds the copied message's attributes.
const (
	AttrMonitorClient AttrID = iota // uint32: the client whose traffic this is
	AttrMonitorPeer                 // uint32: the copied message's peer
	AttrMonitorSend                 // int8: 1 if ubusd sent it, 0 if it received it
	AttrMonitorSeq                  // uint32
	AttrMonitorType                 // uint32: MsgType
	AttrMonitorData                 // nested
)

// Header is struct ubus_msghdr without its version byte, which is always 0.
type Header struct {
	Type MsgType
	// Seq matches replies to requests; the sender picks it.
	Seq uint16
	// Peer is whom the message concerns: the target object of an INVOKE, the
	// caller on an INVOKE that ubusd forwards, the client id in HELLO.
	Peer uint32
}

// Attr is one message attribute with its raw payload.
type Attr struct {
	ID   AttrID
	Data []byte
}

// Message is one ubus message. The attributes are kept raw and in order, so
// any message, whatever its type, re-encodes to the bytes it came from.
type Message struct {
	Header
	Attrs []Attr
}

// ParseMessage decodes exactly one message: the 8-byte header and the body,
// whose length must account for all of b. Attribute payloads are copied.
func ParseMessage(b []byte) (Message, error) {
	if len(b) < headerLen {
		return Message{}, fmt.Errorf("message of %d bytes is shorter than its %d-byte header", len(b), headerLen)
	}
	if b[0] != 0 {
		return Message{}, fmt.Errorf("unsupported message version %d", b[0])
	}
	m := Message{Header: Header{
		Type: MsgType(b[1]),
		Seq:  binary.BigEndian.Uint16(b[2:]),
		Peer: binary.BigEndian.Uint32(b[4:]),
	}}
	bodyLen := int(binary.BigEndian.Uint32(b[8:]) & attrLenMask)
	if bodyLen != len(b)-8 {
		return Message{}, fmt.Errorf("message body of %d bytes claims %d", len(b)-8, bodyLen)
	}
	body := b[headerLen:]
	for len(body) > 0 {
		a, rest, err := splitAttr(body)
		if err != nil {
			return Message{}, fmt.Errorf("%v message: %w", m.Type, err)
		}
		body = rest
		// The extended flag means nothing at this level; libubus ignores it too.
		m.Attrs = append(m.Attrs, Attr{ID: AttrID(a.id), Data: append([]byte(nil), a.payload...)})
	}
	return m, nil
}

// Marshal encodes m. The body must fit MaxMessageLen, which ubusd enforces.
func (m Message) Marshal() ([]byte, error) {
	b := make([]byte, 8, 64)
	b[1] = byte(m.Type)
	binary.BigEndian.PutUint16(b[2:], m.Seq)
	binary.BigEndian.PutUint32(b[4:], m.Peer)
	b, start := beginAttr(b)
	for _, a := range m.Attrs {
		var err error
		if b, err = appendAttr(b, uint8(a.ID), false, a.Data); err != nil {
			return nil, fmt.Errorf("%v message: %w", m.Type, err)
		}
	}
	b, err := endAttr(b, start, 0, false)
	if err != nil {
		return nil, fmt.Errorf("%v message: %w", m.Type, err)
	}
	if len(b)-8 > MaxMessageLen {
		return nil, fmt.Errorf("%v message of %d bytes exceeds %d: %w", m.Type, len(b)-8, MaxMessageLen, errTooLarge)
	}
	return b, nil
}

var errTooLarge = errors.New("message too large")

// attr returns the payload of the last attribute with that id: libubus
// (blob_parse_untrusted) keeps the last one too.
func (m Message) attr(id AttrID) ([]byte, bool) {
	for i := len(m.Attrs) - 1; i >= 0; i-- {
		if m.Attrs[i].ID == id {
			return m.Attrs[i].Data, true
		}
	}
	return nil, false
}

// Uint32 returns an int32 attribute (OBJID, STATUS, ...). Like libubus's
// policy check, a payload of the wrong size counts as absent.
func (m Message) Uint32(id AttrID) (uint32, bool) {
	b, ok := m.attr(id)
	if !ok || len(b) != 4 {
		return 0, false
	}
	return binary.BigEndian.Uint32(b), true
}

// Int8 returns an int8 attribute (ACTIVE, NO_REPLY).
func (m Message) Int8(id AttrID) (int8, bool) {
	b, ok := m.attr(id)
	if !ok || len(b) != 1 {
		return 0, false
	}
	return int8(b[0]), true
}

// String returns a string attribute (OBJPATH, METHOD, ...), which must be
// NUL-terminated.
func (m Message) String(id AttrID) (string, bool) {
	b, ok := m.attr(id)
	if !ok || len(b) == 0 || b[len(b)-1] != 0 {
		return "", false
	}
	return string(b[:len(b)-1]), true
}

// Table decodes a blobmsg attribute (DATA, SIGNATURE). It is nil without
// error if the attribute is absent.
func (m Message) Table(id AttrID) (Table, error) {
	b, ok := m.attr(id)
	if !ok {
		return nil, nil
	}
	t, err := ParseTable(b)
	if err != nil {
		return nil, fmt.Errorf("%v message %v: %w", m.Type, id, err)
	}
	return t, nil
}

// AddUint32 appends an int32 attribute.
func (m *Message) AddUint32(id AttrID, v uint32) {
	m.Attrs = append(m.Attrs, Attr{ID: id, Data: binary.BigEndian.AppendUint32(nil, v)})
}

// AddInt8 appends an int8 attribute.
func (m *Message) AddInt8(id AttrID, v int8) {
	m.Attrs = append(m.Attrs, Attr{ID: id, Data: []byte{byte(v)}})
}

// AddString appends a NUL-terminated string attribute.
func (m *Message) AddString(id AttrID, s string) {
	m.Attrs = append(m.Attrs, Attr{ID: id, Data: append([]byte(s), 0)})
}

// AddTable appends a blobmsg attribute holding t's fields.
func (m *Message) AddTable(id AttrID, t Table) error {
	b, err := AppendTable(nil, t)
	if err != nil {
		return fmt.Errorf("%v message %v: %w", m.Type, id, err)
	}
	m.Attrs = append(m.Attrs, Attr{ID: id, Data: b})
	return nil
}
