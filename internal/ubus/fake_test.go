package ubus

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"
)

// fakeUbusd is a unix socket that plays ubusd's side of a recorded
// conversation: it sends what ubusd sent and checks that the client sends
// exactly what the recorded client sent. It knows nothing of ubus itself,
// beyond where one message ends.
type fakeUbusd struct {
	t     *testing.T
	path  string
	conns chan *net.UnixConn

	mu   sync.Mutex // guards ln and open
	ln   *net.UnixListener
	open []*net.UnixConn
	wg   sync.WaitGroup // the accept loop
}

func newFakeUbusd(t *testing.T) *fakeUbusd {
	t.Helper()
	f := &fakeUbusd{t: t, path: filepath.Join(t.TempDir(), "ubus.sock"), conns: make(chan *net.UnixConn, 4)}
	f.start()
	t.Cleanup(f.stop)
	return f
}

// start listens and accepts until stop.
func (f *fakeUbusd) start() {
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: f.path, Net: "unix"})
	if err != nil {
		f.t.Fatal(err)
	}
	f.mu.Lock()
	f.ln = ln
	f.mu.Unlock()
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for {
			c, err := ln.AcceptUnix()
			if err != nil {
				return
			}
			f.mu.Lock()
			f.open = append(f.open, c)
			f.mu.Unlock()
			f.conns <- c
		}
	}()
}

// stop is ubusd exiting: the socket goes away with every connection.
func (f *fakeUbusd) stop() {
	f.mu.Lock()
	if f.ln != nil {
		f.ln.Close()
		f.ln = nil
	}
	for _, c := range f.open {
		c.Close()
	}
	f.open = nil
	f.mu.Unlock()
	f.wg.Wait()
	for {
		select {
		case c := <-f.conns:
			c.Close()
		default:
			return
		}
	}
}

// restart is ubusd restarting, as procd does after a crash.
func (f *fakeUbusd) restart() {
	f.stop()
	f.start()
}

// accept waits for the client to connect.
func (f *fakeUbusd) accept() *fakeConn {
	f.t.Helper()
	select {
	case c := <-f.conns:
		return &fakeConn{t: f.t, c: c}
	case <-time.After(5 * time.Second):
		f.t.Fatal("client did not connect")
		return nil
	}
}

type fakeConn struct {
	t *testing.T
	c *net.UnixConn
}

// send writes messages in one write, as ubusd often does.
func (fc *fakeConn) send(raws ...[]byte) {
	fc.t.Helper()
	if _, err := fc.c.Write(bytes.Join(raws, nil)); err != nil {
		fc.t.Fatalf("fake ubusd: %v", err)
	}
}

// read returns the next message the client sent, as raw bytes.
func (fc *fakeConn) read() []byte {
	fc.t.Helper()
	fc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	hdr := make([]byte, headerLen)
	if _, err := io.ReadFull(fc.c, hdr); err != nil {
		fc.t.Fatalf("fake ubusd: waiting for a message: %v", err)
	}
	rest := make([]byte, int(binary.BigEndian.Uint32(hdr[8:])&attrLenMask)-4)
	if _, err := io.ReadFull(fc.c, rest); err != nil {
		fc.t.Fatalf("fake ubusd: reading a message: %v", err)
	}
	return append(hdr, rest...)
}

// expect checks that the client's next message is want.
func (fc *fakeConn) expect(want captured) {
	fc.t.Helper()
	if got := fc.read(); !bytes.Equal(got, want.raw) {
		fc.t.Fatalf("%s: client sent\n%s\nrecorded\n%s", want.where, hex.Dump(got), hex.Dump(want.raw))
	}
}

// replay plays a conversation: runs of ubusd's messages go out in one
// write, and each client message must arrive as recorded.
func (fc *fakeConn) replay(msgs []captured) {
	fc.t.Helper()
	var out [][]byte
	for _, m := range msgs {
		if m.fromServer {
			out = append(out, m.raw)
			continue
		}
		if out != nil {
			fc.send(out...)
			out = nil
		}
		fc.expect(m)
	}
	if out != nil {
		fc.send(out...)
	}
}

// dialFake connects a client to f, which greets it with hello.
func dialFake(t *testing.T, f *fakeUbusd, hello captured, opts ...Option) (*Client, *fakeConn) {
	t.Helper()
	type result struct {
		c   *Client
		err error
	}
	ch := make(chan result, 1)
	opts = append([]Option{WithLogger(testLogger(t)), WithBackoff(5*time.Millisecond, 20*time.Millisecond)}, opts...)
	go func() {
		c, err := Dial(testContext(t), f.path, opts...)
		ch <- result{c, err}
	}()
	fc := f.accept()
	fc.send(hello.raw)
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Cleanup(func() { r.c.Close() })
	return r.c, fc
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(b, "\n")))
	return len(b), nil
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// checkLeaks fails the test if goroutines started during it are still
// running once its cleanups (Close among them) are done. Call it first.
func checkLeaks(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Fatalf("%d goroutines, %d before the test: leak?\n%s", runtime.NumGoroutine(), before, buf)
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// within waits for a value from ch.
func within[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// eventually polls cond.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// replaceID swaps one object or client id for another in a recorded
// message, to replay a conversation after a restart handed out new ids.
func replaceID(c captured, pairs ...uint32) captured {
	for i := 0; i+1 < len(pairs); i += 2 {
		c.raw = bytes.ReplaceAll(c.raw, binary.BigEndian.AppendUint32(nil, pairs[i]), binary.BigEndian.AppendUint32(nil, pairs[i+1]))
	}
	return c
}

// withSeq renumbers a recorded message.
func withSeq(c captured, seq uint16) captured {
	c.raw = append([]byte(nil), c.raw...)
	binary.BigEndian.PutUint16(c.raw[2:], seq)
	return c
}
