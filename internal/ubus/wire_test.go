package ubus

import (
	"bytes"
	"encoding/hex"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// Every recorded message, in both directions, parses and re-encodes to the
// same bytes, and so does every blobmsg table inside.
func TestCapturesRoundTrip(t *testing.T) {
	for _, name := range captureFiles(t) {
		for _, c := range loadCapture(t, name) {
			m := mustParse(t, c)
			if got := m.Type.String(); got != c.typ {
				t.Errorf("%s: type %s, file says %s", c.where, got, c.typ)
			}
			b, err := m.Marshal()
			if err != nil {
				t.Fatalf("%s: marshal: %v", c.where, err)
			}
			if !bytes.Equal(b, c.raw) {
				t.Errorf("%s: re-encoded differently\n got %x\nwant %x", c.where, b, c.raw)
			}
			if m.Type == MsgMonitor {
				continue // plain blob attributes inside, no blobmsg
			}
			for _, id := range []AttrID{AttrData, AttrSignature} {
				data, ok := m.attr(id)
				if !ok {
					continue
				}
				tbl, err := ParseTable(data)
				if err != nil {
					t.Errorf("%s: %v: %v", c.where, id, err)
					continue
				}
				if name == "monitor.txt" && m.Type == MsgInvoke {
					continue // the CLI's quirk: plain attrs that blobmsg skips
				}
				re, err := AppendTable(nil, tbl)
				if err != nil || !bytes.Equal(re, data) {
					t.Errorf("%s: %v re-encoded differently (%v)\n got %x\nwant %x", c.where, id, err, re, data)
				}
			}
		}
	}
}

// describe decodes a message's attributes into comparable values, keyed by
// attribute name.
func describe(t *testing.T, m Message) map[string]any {
	t.Helper()
	d := make(map[string]any)
	for _, a := range m.Attrs {
		one := Message{Header: m.Header, Attrs: []Attr{a}}
		var (
			v  any
			ok = true
		)
		if m.Type == MsgMonitor {
			name := [...]string{"client", "peer", "send", "seq", "type", "data"}[a.ID]
			switch a.ID {
			case AttrMonitorSend:
				v, ok = one.Int8(a.ID)
			case AttrMonitorData:
				inner, err := ParseMessage(append([]byte{0, 0, 0, 0, 0, 0, 0, 0}, appendBody(t, a.Data)...))
				if err != nil {
					t.Fatal(err)
				}
				v = describe(t, inner)
			default:
				v, ok = one.Uint32(a.ID)
			}
			if !ok {
				t.Fatalf("monitor attribute %s malformed: %x", name, a.Data)
			}
			d[name] = v
			continue
		}
		switch a.ID {
		case AttrStatus:
			var u uint32
			u, ok = one.Uint32(a.ID)
			v = Status(int32(u))
		case AttrObjID, AttrObjType, AttrTarget:
			v, ok = one.Uint32(a.ID)
		case AttrObjPath, AttrMethod, AttrUser, AttrGroup:
			v, ok = one.String(a.ID)
		case AttrActive, AttrNoReply:
			v, ok = one.Int8(a.ID)
		case AttrData, AttrSignature:
			tbl, err := one.Table(a.ID)
			if err != nil {
				t.Fatal(err)
			}
			v = tbl
		default:
			v = a.Data
		}
		if !ok {
			t.Fatalf("attribute %v malformed: %x", a.ID, a.Data)
		}
		d[a.ID.String()] = v
	}
	return d
}

// appendBody wraps attributes in a body container header.
func appendBody(t *testing.T, attrs []byte) []byte {
	t.Helper()
	b, err := appendAttr(nil, 0, false, attrs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func tbl(fields ...any) Table {
	var t Table
	for i := 0; i < len(fields); i += 2 {
		v, _ := fields[i+1].(Value) // nil stays nil
		t = append(t, Field{Name: fields[i].(string), Value: v})
	}
	return t
}

// Parsing the recorded bytes gives what the decoded dumps in
// shared/research/ubus-captures say they hold.
func TestCapturesDecode(t *testing.T) {
	demoSig := tbl("echo", tbl("text", Int32(TypeString)), "fail", Table{})
	tests := []struct {
		file string
		i    int
		typ  string
		hdr  Header
		want map[string]any
	}{
		{"client-call.txt", 0, "HELLO", Header{MsgHello, 0, 0x3d0cb1ad}, map[string]any{}},
		{"client-call.txt", 1, "LOOKUP", Header{MsgLookup, 1, 0}, map[string]any{"OBJPATH": "demo"}},
		{"client-call.txt", 2, "DATA", Header{MsgData, 1, 0}, map[string]any{
			"OBJPATH": "demo", "OBJID": uint32(0x3a685f87), "OBJTYPE": uint32(0xe61888df), "SIGNATURE": demoSig}},
		{"client-call.txt", 3, "STATUS", Header{MsgStatus, 1, 0}, map[string]any{"STATUS": StatusOK}},
		{"client-call.txt", 4, "INVOKE", Header{MsgInvoke, 2, 0x3a685f87}, map[string]any{
			"OBJID": uint32(0x3a685f87), "METHOD": "echo", "DATA": tbl("text", String("hi"))}},
		{"client-call.txt", 5, "DATA", Header{MsgData, 2, 0x3a685f87}, map[string]any{
			"OBJID": uint32(0x3a685f87), "DATA": tbl("ok", Bool(true), "text", String("hi"), "n", Int32(42))}},
		{"client-call.txt", 6, "STATUS", Header{MsgStatus, 2, 0x3a685f87}, map[string]any{
			"STATUS": StatusOK, "OBJID": uint32(0x3a685f87)}},
		{"client-fail.txt", 4, "INVOKE", Header{MsgInvoke, 2, 0x3a685f87}, map[string]any{
			"OBJID": uint32(0x3a685f87), "METHOD": "fail", "DATA": Table{}}},
		{"client-fail.txt", 5, "STATUS", Header{MsgStatus, 2, 0x3a685f87}, map[string]any{
			"STATUS": StatusInvalidArgument, "OBJID": uint32(0x3a685f87)}},
		{"client-types.txt", 4, "INVOKE", Header{MsgInvoke, 2, 0xf4ce62c1}, map[string]any{
			"OBJID": uint32(0xf4ce62c1), "METHOD": "types",
			"DATA": tbl("d", Double(1.5), "l", Array{Bool(true), String("s")}, "i64", Int64(5000000000))}},
		{"client-types.txt", 5, "DATA", Header{MsgData, 2, 0xf4ce62c1}, map[string]any{
			"OBJID": uint32(0xf4ce62c1),
			"DATA": tbl("tbl", tbl("k", String("v")), "arr", Array{Int32(1), Int32(2), String("x")},
				"t", Bool(true), "big", Int64(8589934592))}},
		{"listen.txt", 1, "ADD_OBJECT", Header{MsgAddObject, 1, 0}, map[string]any{}},
		{"listen.txt", 2, "DATA", Header{MsgData, 1, 0}, map[string]any{"OBJID": uint32(0xdf923951)}},
		{"listen.txt", 4, "INVOKE", Header{MsgInvoke, 2, 1}, map[string]any{
			"OBJID": uint32(1), "METHOD": "register",
			"DATA": tbl("object", Int32(-544065199), "pattern", String("demo.event"))}},
		{"listen.txt", 6, "INVOKE", Header{MsgInvoke, 3, 0}, map[string]any{
			"OBJID": uint32(0xdf923951), "METHOD": "demo.event", "DATA": tbl("a", Int32(1))}},
		{"listen.txt", 7, "STATUS", Header{MsgStatus, 3, 0}, map[string]any{
			"STATUS": StatusOK, "OBJID": uint32(0xdf923951)}},
		{"listen-all.txt", 4, "INVOKE", Header{MsgInvoke, 2, 1}, map[string]any{
			"OBJID": uint32(1), "METHOD": "register",
			"DATA": tbl("object", Int32(0x52537ec0), "pattern", String("*"))}},
		{"send.txt", 1, "INVOKE", Header{MsgInvoke, 1, 1}, map[string]any{
			"OBJID": uint32(1), "METHOD": "send",
			"DATA": tbl("id", String("demo.event"), "data", tbl("a", Int32(1)))}},
		{"server.txt", 1, "ADD_OBJECT", Header{MsgAddObject, 1, 0}, map[string]any{
			"OBJPATH": "demo", "SIGNATURE": demoSig}},
		{"server.txt", 2, "DATA", Header{MsgData, 1, 0}, map[string]any{
			"OBJID": uint32(0x3a685f87), "OBJTYPE": uint32(0xe61888df)}},
		{"server.txt", 4, "INVOKE", Header{MsgInvoke, 2, 0x3d0cb1ad}, map[string]any{
			"OBJID": uint32(0x3a685f87), "METHOD": "echo", "USER": "root", "GROUP": "root",
			"DATA": tbl("text", String("hi"))}},
		{"monitor.txt", 1, "INVOKE", Header{MsgInvoke, 1, 3}, map[string]any{
			"OBJID": uint32(3), "METHOD": "add", "DATA": Table{}}},
		{"monitor.txt", 5, "MONITOR", Header{MsgMonitor, 3, 0}, map[string]any{
			"client": uint32(0xe22fc2a3), "peer": uint32(1), "seq": uint32(1), "type": uint32(MsgInvoke),
			"send": int8(0), "data": map[string]any{
				"OBJID": uint32(1), "METHOD": "send",
				"DATA": tbl("id", String("demo.event"), "data", tbl("b", String("x")))}}},
		{"socat-register-listen.txt", 1, "ADD_OBJECT", Header{MsgAddObject, 1, 0}, map[string]any{
			"OBJPATH": "ndproxy", "SIGNATURE": tbl("status", Table{}, "reload", tbl("interface", Int32(TypeString)))}},
		{"socat-register-listen.txt", 9, "INVOKE", Header{MsgInvoke, 4, 1}, map[string]any{
			"OBJID": uint32(1), "METHOD": "send",
			"DATA": tbl("id", String("ndproxy.test"), "data", tbl("hello", String("world")))}},
		{"socat-register-listen.txt", 15, "DATA", Header{MsgData, 2, 0x49a2793e}, map[string]any{
			"OBJID": uint32(0x9ce74329),
			"DATA":  tbl("running", Bool(true), "proxied", Array{String("2001:db8::1")})}},
		{"socat-register-listen.txt", 20, "INVOKE", Header{MsgInvoke, 4, 0}, map[string]any{
			"OBJID": uint32(0x205e10ab), "METHOD": "network.interface",
			"DATA": tbl("action", String("ifup"), "interface", String("wan6"))}},
		{"socat-register-listen.txt", 22, "NOTIFY", Header{MsgNotify, 1, 0}, map[string]any{
			"OBJID": uint32(0x9ce74329), "ACTIVE": int8(1)}},
		{"socat-register-listen.txt", 23, "NOTIFY", Header{MsgNotify, 6, 0x9ce74329}, map[string]any{
			"OBJID": uint32(0x9ce74329), "METHOD": "update",
			"DATA": tbl("prefix", String("2001:db8:1::/56")), "NO_REPLY": int8(1)}},
	}
	for _, tt := range tests {
		c := msgAt(t, tt.file, tt.i, tt.typ)
		m := mustParse(t, c)
		if diff := cmp.Diff(tt.hdr, m.Header); diff != "" {
			t.Errorf("%s: header (-want +got):\n%s", c.where, diff)
		}
		if diff := cmp.Diff(tt.want, describe(t, m), cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%s: attributes (-want +got):\n%s", c.where, diff)
		}
	}
}

// The client's builders produce exactly the bytes libubus sent.
func TestBuildersMatchCaptures(t *testing.T) {
	demoSig := []MethodSignature{{Name: "echo", Args: []Arg{{"text", TypeString}}}, {Name: "fail"}}
	ndproxySig := []MethodSignature{{Name: "status"}, {Name: "reload", Args: []Arg{{"interface", TypeString}}}}
	typesArgs, err := ParseJSON([]byte(`{"d":1.5,"l":[true,"s"],"i64":5000000000}`))
	if err != nil {
		t.Fatal(err)
	}
	must := func(m Message, err error) Message {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	hdr := func(m Message, seq uint16, peer uint32) Message {
		m.Seq, m.Peer = seq, peer
		return m
	}
	invokeFrom := func(file string, i int) Header { return mustParse(t, msgAt(t, file, i, "INVOKE")).Header }

	tests := []struct {
		file string
		i    int
		typ  string
		got  Message
	}{
		{"client-call.txt", 1, "LOOKUP", hdr(lookupMsg("demo"), 1, 0)},
		{"client-call.txt", 4, "INVOKE", hdr(must(invokeMsg(0x3a685f87, "echo", tbl("text", String("hi")))), 2, 0x3a685f87)},
		{"client-fail.txt", 4, "INVOKE", hdr(must(invokeMsg(0x3a685f87, "fail", nil)), 2, 0x3a685f87)},
		{"client-types.txt", 4, "INVOKE", hdr(must(invokeMsg(0xf4ce62c1, "types", typesArgs)), 2, 0xf4ce62c1)},
		{"listen.txt", 1, "ADD_OBJECT", hdr(must(addObjectMsg("", nil)), 1, 0)},
		{"listen.txt", 4, "INVOKE", hdr(must(registerEventMsg(0xdf923951, "demo.event")), 2, 1)},
		{"listen.txt", 7, "STATUS", replyStatusMsg(invokeFrom("listen.txt", 6), 0xdf923951, StatusOK)},
		{"listen-all.txt", 4, "INVOKE", hdr(must(registerEventMsg(0x52537ec0, "*")), 2, 1)},
		{"listen-all.txt", 7, "STATUS", replyStatusMsg(invokeFrom("listen-all.txt", 6), 0x52537ec0, StatusOK)},
		{"send.txt", 1, "INVOKE", hdr(must(sendEventMsg("demo.event", tbl("a", Int32(1)))), 1, 1)},
		{"server.txt", 1, "ADD_OBJECT", hdr(must(addObjectMsg("demo", demoSig)), 1, 0)},
		{"server.txt", 5, "DATA", must(replyDataMsg(invokeFrom("server.txt", 4), 0x3a685f87,
			tbl("ok", Bool(true), "text", String("hi"), "n", Int32(42))))},
		{"server.txt", 6, "STATUS", replyStatusMsg(invokeFrom("server.txt", 4), 0x3a685f87, StatusOK)},
		{"server.txt", 8, "STATUS", replyStatusMsg(invokeFrom("server.txt", 7), 0x3a685f87, StatusInvalidArgument)},
		{"socat-register-listen.txt", 1, "ADD_OBJECT", hdr(must(addObjectMsg("ndproxy", ndproxySig)), 1, 0)},
		{"socat-register-listen.txt", 4, "ADD_OBJECT", hdr(must(addObjectMsg("", nil)), 2, 0)},
		{"socat-register-listen.txt", 7, "INVOKE", hdr(must(registerEventMsg(0x205e10ab, "network.interface")), 3, 1)},
		{"socat-register-listen.txt", 9, "INVOKE", hdr(must(sendEventMsg("ndproxy.test", tbl("hello", String("world")))), 4, 1)},
		{"socat-register-listen.txt", 11, "LOOKUP", hdr(lookupMsg("ndproxy"), 5, 0)},
		{"socat-register-listen.txt", 15, "DATA", must(replyDataMsg(invokeFrom("socat-register-listen.txt", 14), 0x9ce74329,
			tbl("running", Bool(true), "proxied", Array{String("2001:db8::1")})))},
		{"socat-register-listen.txt", 16, "STATUS", replyStatusMsg(invokeFrom("socat-register-listen.txt", 14), 0x9ce74329, StatusOK)},
		{"socat-register-listen.txt", 23, "NOTIFY", hdr(must(notifyMsg(0x9ce74329, "update", tbl("prefix", String("2001:db8:1::/56")))), 6, 0x9ce74329)},
	}
	for _, tt := range tests {
		c := msgAt(t, tt.file, tt.i, tt.typ)
		got, err := tt.got.Marshal()
		if err != nil {
			t.Fatalf("%s: %v", c.where, err)
		}
		if !bytes.Equal(got, c.raw) {
			t.Errorf("%s: built\n%s\nrecorded\n%s", c.where, hex.Dump(got), hex.Dump(c.raw))
		}
	}
}
