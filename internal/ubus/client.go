package ubus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"
)

// The ubusd socket. OpenWrt 21.02 moved it from LegacySocket to
// DefaultSocket (openwrt/ubus 13a4438) so that ubusd can run as non-root.
const (
	DefaultSocket = "/var/run/ubus/ubus.sock"
	LegacySocket  = "/var/run/ubus.sock"
)

// replayTimeout bounds re-registering everything after a reconnect.
const replayTimeout = 30 * time.Second

// Option configures a Client.
type Option func(*Client)

// WithLogger sets where the client logs connection changes and dropped
// messages. The default discards.
func WithLogger(l *slog.Logger) Option {
	return func(c *Client) { c.log = l }
}

// WithBackoff bounds the wait between reconnection attempts (default 100ms
// doubling up to 5s).
func WithBackoff(first, limit time.Duration) Option {
	return func(c *Client) { c.backoff = backoff{min: first, max: limit} }
}

// Client is a connection to ubusd that survives ubusd restarts: when the
// socket fails it reconnects with backoff and registers its objects, event
// listeners and subscriptions again, in the order they were made. Requests
// in flight when the connection drops fail with StatusConnectionFailed;
// requests made while it is down wait for the next connection (or their
// context).
//
// Callbacks (events, notifications) run one at a time on one goroutine;
// method handlers each on their own. Neither may call Close.
//
// The connection's life:
//
//	Dial ──► connected ──socket fails──► reconnecting ──dial, HELLO, replay──► connected
//	             │                            │
//	             └────────── Close ───────────┴──► closed
type Client struct {
	log     *slog.Logger
	paths   []string // tried in order on every (re)connect
	backoff backoff

	ctx    context.Context // ends at Close; handlers run under it
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine the client starts
	disp   *dispatcher

	// regMu serializes registrations and their replay after a reconnect, so
	// that each one in regs exists on the current session or is about to be
	// replayed onto the next. It is held across round trips, and taken
	// before mu.
	regMu  sync.Mutex
	regs   []registration  // guarded by regMu; creation order is replay order
	subs   []*Subscription // guarded by regMu
	objAdd *Listener       // guarded by regMu; "ubus.object.add", made by the first Subscribe

	mu        sync.Mutex          // guards the following; never held across I/O
	sess      *session            // nil while reconnecting; set once registrations are replayed
	changed   chan struct{}       // closed and replaced whenever sess changes
	endpoints map[uint32]endpoint // our objects on the current session, by id
	closed    bool
}

// Dial connects to ubusd at path; an empty path tries DefaultSocket, then
// LegacySocket. It fails if ubusd cannot be reached now; later failures are
// retried until Close.
func Dial(ctx context.Context, path string, opts ...Option) (*Client, error) {
	c := &Client{
		log:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		paths:     []string{path},
		backoff:   backoff{min: 100 * time.Millisecond, max: 5 * time.Second},
		disp:      newDispatcher(),
		changed:   make(chan struct{}),
		endpoints: make(map[uint32]endpoint),
	}
	if path == "" {
		c.paths = []string{DefaultSocket, LegacySocket}
	}
	for _, o := range opts {
		o(c)
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	s, err := c.connect(ctx)
	if err != nil {
		c.cancel()
		return nil, err
	}
	c.publish(s)
	c.log.Info("connected to ubusd", "socket", s.path, "client", hexID(s.id))
	c.wg.Add(2)
	go func() {
		defer c.wg.Done()
		c.disp.run(c.ctx)
	}()
	go func() {
		defer c.wg.Done()
		c.run(s)
	}()
	return c, nil
}

// Close disconnects and waits for the client's goroutines, method handlers
// included. Requests still waiting fail with ErrClosed.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	s := c.sess
	c.mu.Unlock()
	c.cancel()
	if s != nil {
		s.close(ErrClosed)
	}
	c.wg.Wait()
	return nil
}

// ID is the client id ubusd gave the current connection, 0 while reconnecting.
func (c *Client) ID() uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sess == nil {
		return 0
	}
	return c.sess.id
}

// connect dials the first socket that answers and starts its reader.
func (c *Client) connect(ctx context.Context) (*session, error) {
	var errs []error
	for _, p := range c.paths {
		s, err := dialSession(ctx, p)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p, err))
			if ctx.Err() != nil {
				break
			}
			continue
		}
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			s.readLoop(c.log, c.push)
		}()
		return s, nil
	}
	return nil, fmt.Errorf("connect to ubusd: %w: %w", StatusConnectionFailed, errors.Join(errs...))
}

// run watches the session and replaces it when it fails.
func (c *Client) run(s *session) {
	for {
		select {
		case <-s.done:
		case <-c.ctx.Done():
			s.close(ErrClosed)
			<-s.done
		}
		c.unpublish()
		if c.ctx.Err() != nil {
			return
		}
		c.log.Warn("lost connection to ubusd, reconnecting", "err", s.reason())
		if s = c.reconnect(); s == nil {
			return
		}
	}
}

// reconnect dials until it has a session with every registration replayed,
// or the client is closed (nil).
func (c *Client) reconnect() *session {
	b := c.backoff
	for {
		t := time.NewTimer(b.wait())
		select {
		case <-c.ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		s, err := c.connect(c.ctx)
		if err != nil {
			c.log.Debug("reconnect failed", "err", err)
			continue
		}
		if err := c.replay(s); err != nil {
			c.log.Warn("re-registering after reconnect failed", "err", err)
			s.close(err)
			<-s.done
			c.unpublish()
			continue
		}
		c.log.Info("reconnected to ubusd", "socket", s.path, "client", hexID(s.id))
		return s
	}
}

// replay registers everything again on a new session, then publishes it. A
// registration ubusd refuses is logged and skipped; a failing session fails
// the replay.
func (c *Client) replay(s *session) error {
	// A ubusd that accepts but does not answer is as good as gone: give up
	// on it and dial again rather than hold regMu forever.
	ctx, cancel := context.WithTimeout(c.ctx, replayTimeout)
	defer cancel()
	c.regMu.Lock()
	defer c.regMu.Unlock()
	for _, r := range c.regs {
		err := r.registerLocked(ctx, s)
		if err == nil {
			continue
		}
		var st Status
		if !errors.As(err, &st) || st == StatusConnectionFailed {
			return err
		}
		c.log.Error("ubusd refused a registration after reconnect", "err", err)
	}
	c.publish(s)
	return nil
}

func (c *Client) publish(s *session) {
	c.mu.Lock()
	c.setSessionLocked(s)
	c.mu.Unlock()
}

// unpublish forgets the dead session and what lived on it.
func (c *Client) unpublish() {
	c.mu.Lock()
	c.setSessionLocked(nil)
	clear(c.endpoints)
	c.mu.Unlock()
	c.regMu.Lock()
	for _, r := range c.regs {
		r.lostLocked()
	}
	c.regMu.Unlock()
}

// Must hold c.mu.
func (c *Client) setSessionLocked(s *session) {
	c.sess = s
	close(c.changed)
	c.changed = make(chan struct{})
}

// session returns the live session, waiting while the client reconnects.
func (c *Client) session(ctx context.Context) (*session, error) {
	for {
		c.mu.Lock()
		s, changed, closed := c.sess, c.changed, c.closed
		c.mu.Unlock()
		if closed {
			return nil, ErrClosed
		}
		// A session that just failed stays published until run notices;
		// wait for its successor rather than fail.
		if s != nil && s.alive() {
			return s, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-c.ctx.Done():
			return nil, ErrClosed
		}
	}
}
