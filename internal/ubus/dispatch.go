package ubus

import (
	"context"
	"sync"
)

// dispatcher runs callbacks (events, notifications, subscription changes)
// one at a time, in arrival order, off the reader goroutine. The queue is
// unbounded because the reader must never wait: ubusd drops messages for a
// client whose queue it cannot flush (UBUS_CLIENT_MAX_TXQ_LEN).
type dispatcher struct {
	wake chan struct{} // capacity 1: "the queue is not empty"

	mu    sync.Mutex // guards queue
	queue []func()
}

func newDispatcher() *dispatcher {
	return &dispatcher{wake: make(chan struct{}, 1)}
}

func (d *dispatcher) push(f func()) {
	d.mu.Lock()
	d.queue = append(d.queue, f)
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// run calls queued functions until ctx ends; what is still queued then is
// dropped.
func (d *dispatcher) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.wake:
		}
		for {
			d.mu.Lock()
			if len(d.queue) == 0 {
				d.queue = nil
				d.mu.Unlock()
				break
			}
			f := d.queue[0]
			d.queue[0] = nil
			d.queue = d.queue[1:]
			d.mu.Unlock()
			if ctx.Err() != nil {
				return
			}
			f()
		}
	}
}
