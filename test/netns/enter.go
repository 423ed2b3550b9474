package netns

import (
	"fmt"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"
)

// A socket keeps the namespace it was created in, so one test process can
// send and receive on links of several namespaces without helper processes.

// InNamespace runs f on a thread that has entered the named namespace (made by
// ip netns, so /run/netns/<ns>), then returns the thread to the namespace it
// came from. Two things keep the namespace from leaking to the rest of the
// process: a thread that cannot return is never unlocked, so Go ends it with
// the goroutine; and the main thread is never used, because the kernel shows
// its namespace as the process's (ip netns pids would list, and the lab's
// cleanup kill, this very process) and Go never ends it.
func InNamespace(ns string, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if unix.Gettid() == unix.Getpid() {
			// Hold the main thread until another one has done the work.
			defer runtime.UnlockOSThread()
			errc <- InNamespace(ns, f)
			return
		}
		back, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return
		}
		defer unix.Close(back)
		target, err := unix.Open(filepath.Join("/run/netns", ns), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return
		}
		defer unix.Close(target)
		if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", ns, err)
			return
		}
		err = f()
		if unix.Setns(back, unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}
