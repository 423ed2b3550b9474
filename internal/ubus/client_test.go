package ubus

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// `ubus call` against the recorded ubusd: lookup, invoke, replies.
func TestCall(t *testing.T) {
	tests := []struct {
		file    string
		method  string
		args    string
		want    Table
		wantErr error
	}{
		{"client-call.txt", "echo", `{"text":"hi"}`, tbl("ok", Bool(true), "text", String("hi"), "n", Int32(42)), nil},
		{"client-fail.txt", "fail", ``, nil, StatusInvalidArgument},
		{"client-types.txt", "types", `{"d":1.5,"l":[true,"s"],"i64":5000000000}`,
			tbl("tbl", tbl("k", String("v")), "arr", Array{Int32(1), Int32(2), String("x")}, "t", Bool(true), "big", Int64(8589934592)), nil},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			checkLeaks(t)
			conv := loadCapture(t, tt.file)
			f := newFakeUbusd(t)
			c, fc := dialFake(t, f, conv[0])
			if got, want := c.ID(), mustParse(t, conv[0]).Peer; got != want {
				t.Errorf("client id %08x, hello said %08x", got, want)
			}
			var args Table
			if tt.args != "" {
				var err error
				if args, err = ParseJSON([]byte(tt.args)); err != nil {
					t.Fatal(err)
				}
			}
			type result struct {
				reply Table
				err   error
			}
			done := make(chan result, 1)
			go func() {
				r, err := c.Call(testContext(t), "demo", tt.method, args)
				done <- result{r, err}
			}()
			fc.replay(conv[1:])
			r := within(t, done, "the call")
			if !errors.Is(r.err, tt.wantErr) || (tt.wantErr == nil) != (r.err == nil) {
				t.Fatalf("error %v, want %v", r.err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, r.reply); diff != "" {
				t.Errorf("reply (-want +got):\n%s", diff)
			}
		})
	}
}

// An object served to five recorded `ubus call`s.
func TestServeObject(t *testing.T) {
	checkLeaks(t)
	conv := loadCapture(t, "server.txt")
	f := newFakeUbusd(t)
	c, fc := dialFake(t, f, conv[0])

	var (
		mu   sync.Mutex
		reqs []Request
	)
	record := func(r Request) {
		mu.Lock()
		reqs = append(reqs, r)
		mu.Unlock()
	}
	echo := func(ctx context.Context, r Request) (Table, error) {
		record(r)
		var args struct {
			Text string `json:"text"`
		}
		if err := r.Args.Decode(&args); err != nil {
			return nil, err
		}
		return tbl("ok", Bool(true), "text", String(args.Text), "n", Int32(42)), nil
	}
	fail := func(ctx context.Context, r Request) (Table, error) {
		record(r)
		return nil, errors.Join(errors.New("always"), StatusInvalidArgument)
	}
	done := make(chan *Object, 1)
	go func() {
		o, err := c.AddObject(testContext(t), "demo",
			Method{Name: "echo", Args: []Arg{{"text", TypeString}}, Handler: echo},
			Method{Name: "fail", Handler: fail})
		if err != nil {
			t.Error(err)
		}
		done <- o
	}()
	fc.replay(conv[1:4])
	o := within(t, done, "AddObject")
	if o.ID() != 0x3a685f87 {
		t.Errorf("object id %08x", o.ID())
	}
	fc.replay(conv[4:])

	want := []Request{
		{Object: "demo", Method: "echo", Args: tbl("text", String("hi")), User: "root", Group: "root", Caller: 0x3d0cb1ad},
		{Object: "demo", Method: "fail", Args: Table{}, User: "root", Group: "root", Caller: 0xc67b5a7c},
		{Object: "demo", Method: "echo", Args: tbl("text", String("mon")), User: "root", Group: "root", Caller: 0x3075f0cd},
		{Object: "demo", Method: "fail", Args: Table{}, User: "root", Group: "root", Caller: 0x207cf323},
		{Object: "demo", Method: "echo", Args: tbl("text", String("mon")), User: "root", Group: "root", Caller: 0x506bf960},
	}
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff(want, reqs, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

// `ubus listen` as recorded, for one event type and for all.
func TestListen(t *testing.T) {
	tests := []struct {
		file, pattern string
		want          Event
	}{
		{"listen.txt", "demo.event", Event{Type: "demo.event", Data: tbl("a", Int32(1))}},
		{"listen-all.txt", "*", Event{Type: "x", Data: Table{}}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			checkLeaks(t)
			conv := loadCapture(t, tt.file)
			f := newFakeUbusd(t)
			c, fc := dialFake(t, f, conv[0])
			events := make(chan Event, 1)
			done := make(chan error, 1)
			go func() {
				_, err := c.Listen(testContext(t), tt.pattern, func(e Event) { events <- e })
				done <- err
			}()
			fc.replay(conv[1:])
			if err := within(t, done, "Listen"); err != nil {
				t.Fatal(err)
			}
			got := within(t, events, "the event")
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("event (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSend(t *testing.T) {
	checkLeaks(t)
	conv := loadCapture(t, "send.txt")
	f := newFakeUbusd(t)
	c, fc := dialFake(t, f, conv[0])
	done := make(chan error, 1)
	go func() { done <- c.Send(testContext(t), "demo.event", tbl("a", Int32(1))) }()
	fc.replay(conv[1:])
	if err := within(t, done, "Send"); err != nil {
		t.Fatal(err)
	}
}

// ndproxy's own life on the bus, as recorded with socat: register an
// object, listen, send, look up, answer calls, get an event, notify a
// subscriber. Then ubusd restarts and everything is registered again.
func TestRegisterListenNotifyReconnect(t *testing.T) {
	checkLeaks(t)
	conv := loadCapture(t, "socat-register-listen.txt")
	f := newFakeUbusd(t)
	c, fc := dialFake(t, f, conv[0])
	ctx := testContext(t)

	status := func(ctx context.Context, r Request) (Table, error) {
		return tbl("running", Bool(true), "proxied", Array{String("2001:db8::1")}), nil
	}
	reloads := make(chan string, 2)
	reload := func(ctx context.Context, r Request) (Table, error) {
		var args struct {
			Interface string `json:"interface"`
		}
		if err := r.Args.Decode(&args); err != nil {
			return nil, err
		}
		reloads <- args.Interface
		return status(ctx, r)
	}
	events := make(chan Event, 2)
	type setup struct {
		o    *Object
		objs []ObjectInfo
	}
	ready := make(chan setup, 1)
	go func() {
		defer close(ready)
		o, err := c.AddObject(ctx, "ndproxy",
			Method{Name: "status", Handler: status},
			Method{Name: "reload", Args: []Arg{{"interface", TypeString}}, Handler: reload})
		if err != nil {
			t.Error(err)
			return
		}
		if _, err := c.Listen(ctx, "network.interface", func(e Event) { events <- e }); err != nil {
			t.Error(err)
			return
		}
		if err := c.Send(ctx, "ndproxy.test", tbl("hello", String("world"))); err != nil {
			t.Error(err)
			return
		}
		objs, err := c.Lookup(ctx, "ndproxy")
		if err != nil {
			t.Error(err)
			return
		}
		ready <- setup{o, objs}
	}()
	fc.replay(conv[1:14])
	s, ok := <-ready
	if !ok {
		t.FailNow()
	}
	wantObjs := []ObjectInfo{{Path: "ndproxy", ID: 0x9ce74329, TypeID: 0x3ef6929f, Methods: []MethodSignature{
		{Name: "status"}, {Name: "reload", Args: []Arg{{"interface", TypeString}}}}}}
	if diff := cmp.Diff(wantObjs, s.objs); diff != "" {
		t.Errorf("lookup (-want +got):\n%s", diff)
	}

	fc.replay(conv[14:23]) // two calls and an event answered; a subscriber comes
	if got := within(t, reloads, "reload"); got != "lan" {
		t.Errorf("reload got interface %q", got)
	}
	want := Event{Type: "network.interface", Data: tbl("action", String("ifup"), "interface", String("wan6"))}
	if diff := cmp.Diff(want, within(t, events, "the event")); diff != "" {
		t.Errorf("event (-want +got):\n%s", diff)
	}
	eventually(t, "a subscriber", s.o.HasSubscribers)
	notified := make(chan error, 1)
	go func() { notified <- s.o.Notify(ctx, "update", tbl("prefix", String("2001:db8:1::/56"))) }()
	fc.replay(conv[23:])
	if err := within(t, notified, "Notify"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "no subscriber", func() bool { return !s.o.HasSubscribers() })

	// ubusd restarts and hands out new ids; the client registers the same
	// object and listener again, and both work under their new ids.
	const newClient, newObj, newType, newListener = 0x11110001, 0x22220002, 0x33330003, 0x44440004
	renumber := func(m captured) captured {
		return replaceID(m, 0x26cbc2b7, newClient, 0x9ce74329, newObj, 0x3ef6929f, newType, 0x205e10ab, newListener)
	}
	f.restart()
	fc = f.accept()
	fc.send(renumber(conv[0]).raw)
	for _, m := range conv[1:9] {
		m = renumber(m)
		if m.fromServer {
			fc.send(m.raw)
		} else {
			fc.expect(m)
		}
	}
	eventually(t, "the new client id", func() bool { return c.ID() == newClient })
	if s.o.ID() != newObj {
		t.Errorf("object id %08x after reconnect, want %08x", s.o.ID(), newObj)
	}
	for _, m := range conv[14:17] { // a call to the re-registered object
		m = renumber(m)
		if m.fromServer {
			fc.send(m.raw)
		} else {
			fc.expect(m)
		}
	}
	fc.replay([]captured{renumber(conv[20]), renumber(conv[21])}) // an event to the new listener
	within(t, events, "the event after reconnect")
}

// A subscriber on netifd's network.interface: notifications with and
// without NO_REPLY, netifd restarting, removal. Synthesized from the ubusd
// source: no capture shows a subscriber.
func TestSubscribe(t *testing.T) {
	checkLeaks(t)
	conv := loadCapture(t, "synth/subscribe.txt")
	f := newFakeUbusd(t)
	c, fc := dialFake(t, f, conv[0])

	seen := make(chan string, 16)
	h := Subscriber{
		Notify: func(n Notification) {
			iface, _ := n.Data.Get("interface")
			seen <- n.Type + " " + string(iface.(String))
		},
		Attached: func() { seen <- "attached" },
		Detached: func() { seen <- "detached" },
	}
	subc := make(chan *Subscription, 1)
	go func() {
		sub, err := c.Subscribe(testContext(t), "network.interface", h)
		if err != nil {
			t.Error(err)
		}
		subc <- sub
	}()
	fc.replay(conv[1:23])
	sub := within(t, subc, "Subscribe")
	want := []string{"attached", "interface.update wan6", "interface.down wan6", "detached", "attached", "interface.update wan6"}
	for _, w := range want {
		if got := within(t, seen, w); got != w {
			t.Fatalf("got %q, want %q", got, w)
		}
	}
	if !sub.Attached() {
		t.Error("not attached")
	}
	done := make(chan error, 1)
	go func() { done <- sub.Remove(testContext(t)) }()
	fc.replay(conv[23:])
	if err := within(t, done, "Remove"); err != nil {
		t.Fatal(err)
	}
}

// A subscription made while the object is missing waits for it, also
// across a ubusd restart.
func TestSubscribePending(t *testing.T) {
	checkLeaks(t)
	conv := loadCapture(t, "synth/subscribe.txt")
	f := newFakeUbusd(t)
	c, fc := dialFake(t, f, conv[0])
	attached := make(chan struct{}, 4)
	done := make(chan error, 1)
	go func() {
		_, err := c.Subscribe(testContext(t), "network.interface", Subscriber{Attached: func() { attached <- struct{}{} }})
		done <- err
	}()
	notFound := func(lookup captured) captured { // ubusd: no such path
		m := mustParse(t, lookup)
		st := Message{Header: Header{Type: MsgStatus, Seq: m.Seq}}
		st.AddUint32(AttrStatus, uint32(StatusNotFound))
		raw, _ := st.Marshal()
		return captured{fromServer: true, raw: raw}
	}
	fc.replay(conv[1:10])
	fc.replay([]captured{notFound(conv[9])})
	if err := within(t, done, "Subscribe"); err != nil {
		t.Fatal(err)
	}

	f.restart()
	fc = f.accept()
	fc.send(conv[0].raw)
	fc.replay(conv[1:10])
	fc.replay([]captured{notFound(conv[9])})
	select {
	case <-attached:
		t.Fatal("attached to nothing")
	case <-time.After(20 * time.Millisecond):
	}
	// netifd starts: its object appears under the second id. This session
	// numbered its requests from 1 again, so SUBSCRIBE is seq 5.
	fc.replay([]captured{conv[18], conv[19], withSeq(conv[20], 5), withSeq(conv[21], 5)})
	within(t, attached, "the subscription")
}

// File descriptors that arrive with a message are closed, not leaked.
func TestPassedFDsAreClosed(t *testing.T) {
	checkLeaks(t)
	conv := loadCapture(t, "client-call.txt")
	f := newFakeUbusd(t)
	_, fc := dialFake(t, f, conv[0])

	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	ping := Message{Header: Header{Type: MsgNotify}} // for nobody: dropped
	raw, _ := ping.Marshal()
	if _, _, err := fc.c.WriteMsgUnix(raw, syscall.UnixRights(int(pw.Fd())), nil); err != nil {
		t.Fatal(err)
	}
	pw.Close() // the client's copy is now the only write end
	pr.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := pr.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read %v: the client kept the descriptor", err)
	}
}

// A request whose context ends returns at once; its late answer is
// dropped and the next request works.
func TestRequestCancel(t *testing.T) {
	checkLeaks(t)
	conv := loadCapture(t, "client-call.txt")
	f := newFakeUbusd(t)
	c, fc := dialFake(t, f, conv[0])

	ctx, cancel := context.WithCancel(testContext(t))
	done := make(chan error, 1)
	go func() {
		_, err := c.Lookup(ctx, "demo")
		done <- err
	}()
	fc.expect(conv[1])
	cancel()
	if err := within(t, done, "the cancelled lookup"); !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v", err)
	}
	fc.send(conv[2].raw, conv[3].raw) // too late

	go func() { done <- c.Ping(testContext(t)) }()
	ping := fc.read()
	if ping[1] != byte(MsgPing) || ping[3] != 2 {
		t.Fatalf("expected PING with seq 2, got %x", ping)
	}
	pong := append([]byte(nil), ping...)
	pong[1] = byte(MsgData)
	st := append([]byte(nil), conv[3].raw...)
	st[3] = 2
	fc.send(pong, st)
	if err := within(t, done, "ping"); err != nil {
		t.Fatal(err)
	}
}

// Requests in flight fail when ubusd goes away, or when the client closes.
func TestRequestsFailOnDisconnect(t *testing.T) {
	checkLeaks(t)
	conv := loadCapture(t, "client-call.txt")
	f := newFakeUbusd(t)
	c, fc := dialFake(t, f, conv[0])

	done := make(chan error, 1)
	go func() {
		_, err := c.Call(testContext(t), "demo", "echo", nil)
		done <- err
	}()
	fc.expect(conv[1])
	f.stop()
	if err := within(t, done, "the call"); !errors.Is(err, StatusConnectionFailed) {
		t.Fatalf("error %v, want connection failed", err)
	}

	// While ubusd is away requests wait; Close ends them.
	go func() {
		_, err := c.Lookup(testContext(t), "demo")
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	c.Close()
	if err := within(t, done, "the lookup"); !errors.Is(err, ErrClosed) {
		t.Fatalf("error %v, want ErrClosed", err)
	}
	if _, err := c.Lookup(testContext(t), "demo"); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

func TestDial(t *testing.T) {
	checkLeaks(t)
	_, err := Dial(testContext(t), "/nonexistent/ubus.sock")
	if !errors.Is(err, StatusConnectionFailed) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error %v, want connection failed and not exist", err)
	}

	// Falls back to the next socket, as from DefaultSocket to LegacySocket.
	conv := loadCapture(t, "client-call.txt")
	f := newFakeUbusd(t)
	ch := make(chan error, 1)
	go func() {
		c, err := Dial(testContext(t), "", withPaths("/nonexistent/ubus.sock", f.path))
		if err == nil {
			c.Close()
		}
		ch <- err
	}()
	f.accept().send(conv[0].raw)
	if err := within(t, ch, "Dial"); err != nil {
		t.Fatal(err)
	}

	// A socket that never says hello.
	ctx, cancel := context.WithTimeout(testContext(t), 50*time.Millisecond)
	defer cancel()
	go func() {
		_, err := Dial(ctx, f.path)
		ch <- err
	}()
	f.accept()
	if err := within(t, ch, "Dial"); !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "hello") {
		t.Fatalf("error %v, want deadline exceeded waiting for hello", err)
	}
}

// withPaths replaces the default sockets, which tests cannot create.
func withPaths(paths ...string) Option {
	return func(c *Client) { c.paths = paths }
}

// What libubus's ubus_process_invoke does with calls it cannot serve, and
// removal (ubusd_handle_remove_object). Not in the captures: the answers
// follow the libubus source.
func TestObjectEdgeCases(t *testing.T) {
	checkLeaks(t)
	conv := loadCapture(t, "server.txt")
	f := newFakeUbusd(t)
	c, fc := dialFake(t, f, conv[0])
	const obj, caller = 0x3a685f87, 0x3d0cb1ad
	half := func(ctx context.Context, r Request) (Table, error) {
		return tbl("partial", Bool(true)), StatusNoData
	}
	done := make(chan *Object, 1)
	go func() {
		o, err := c.AddObject(testContext(t), "demo",
			Method{Name: "echo", Args: []Arg{{"text", TypeString}}, Handler: half},
			Method{Name: "fail", Handler: half})
		if err != nil {
			t.Error(err)
		}
		done <- o
	}()
	fc.replay(conv[1:4])
	o := within(t, done, "AddObject")

	build := func(server bool, m Message) captured {
		t.Helper()
		raw, err := m.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return captured{fromServer: server, raw: raw, where: m.Type.String()}
	}
	invoke := func(seq uint16, method string, withData, noReply bool) captured {
		m := Message{Header: Header{Type: MsgInvoke, Seq: seq, Peer: caller}}
		if noReply {
			m.AddInt8(AttrNoReply, 1)
		}
		m.AddUint32(AttrObjID, obj)
		m.AddString(AttrMethod, method)
		if withData {
			m.AddTable(AttrData, nil)
		}
		return build(true, m)
	}
	status := func(seq uint16, st Status) captured {
		return build(false, replyStatusMsg(Header{Seq: seq, Peer: caller}, obj, st))
	}
	data, _ := replyDataMsg(Header{Seq: 7, Peer: caller}, obj, tbl("partial", Bool(true)))
	fc.replay([]captured{
		invoke(5, "nope", true, false), status(5, StatusMethodNotFound),
		invoke(6, "echo", false, false), status(6, StatusInvalidArgument),
		invoke(7, "echo", true, false), build(false, data), status(7, StatusNoData),
		invoke(8, "echo", true, true),                                   // NO_REPLY: nothing comes back...
		invoke(9, "nope", true, false), status(9, StatusMethodNotFound), // ...as this shows
	})

	rm := make(chan error, 1)
	go func() { rm <- o.Remove(testContext(t)) }()
	req := removeObjectMsg(obj)
	req.Seq = 2
	ack := Message{Header: Header{Type: MsgData, Seq: 2}}
	ack.AddUint32(AttrObjID, obj)
	fin := Message{Header: Header{Type: MsgStatus, Seq: 2}}
	fin.AddUint32(AttrStatus, 0)
	fc.replay([]captured{build(false, req), build(true, ack), build(true, fin)})
	if err := within(t, rm, "Remove"); err != nil {
		t.Fatal(err)
	}
	if o.ID() != 0 {
		t.Errorf("id %08x after Remove", o.ID())
	}
	if err := o.Notify(testContext(t), "x", nil); err == nil {
		t.Error("Notify on a removed object succeeded")
	}
}
