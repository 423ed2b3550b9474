package netns

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// Proc is a background process inside a host. Its stdout and stderr go to a
// log file under the lab's directory; the last lines of every log are printed
// when the test fails. The lab stops it on cleanup if the test did not.
type Proc struct {
	host *Host
	name string
	path string // log file
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited and err is set
	err  error         // exit status, read only after done is closed
}

// Start starts args inside the host in the background; name labels the log
// file and the failure dump ("radvd", "ndproxy").
func (h *Host) Start(name string, args ...string) *Proc {
	h.lab.t.Helper()
	return h.StartEnv(name, nil, args...)
}

// StartEnv is Start with extra environment variables ("KEY=value").
func (h *Host) StartEnv(name string, env []string, args ...string) *Proc {
	h.lab.t.Helper()
	p := &Proc{
		host: h,
		name: name,
		path: filepath.Join(h.lab.dir, fmt.Sprintf("%s-%s-%d.log", h.Name, name, h.lab.next())),
		done: make(chan struct{}),
	}
	log, err := os.Create(p.path)
	if err != nil {
		h.lab.t.Fatalf("netns: %v", err)
	}
	defer log.Close() // the child has its own copy
	p.cmd = h.Command(args...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = log, log
	// If the test binary dies (a -timeout panic), take the daemons with it.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		h.lab.t.Fatalf("netns: start %s on %s: %v", name, h.Name, err)
	}
	h.lab.mu.Lock()
	h.lab.procs = append(h.lab.procs, p)
	h.lab.mu.Unlock()
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	return p
}

// Pid is the process id of the program (ip netns exec execs it in place).
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Log returns everything the process has written so far.
func (p *Proc) Log() string {
	b, err := os.ReadFile(p.path)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// Exited reports whether the process has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Signal sends sig to the process.
func (p *Proc) Signal(sig os.Signal) error {
	if p.Exited() {
		return fmt.Errorf("%s on %s already exited: %v", p.name, p.host.Name, p.err)
	}
	return p.cmd.Process.Signal(sig)
}

// ErrStillRunning is returned by Wait when the process outlived the timeout.
var ErrStillRunning = errors.New("still running")

// Wait waits up to timeout for the process to exit and returns its exit
// status (nil for exit code 0), or ErrStillRunning.
func (p *Proc) Wait(timeout time.Duration) error {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-p.done:
		return p.err
	case <-timer.C:
		if p.Exited() { // both were ready: select picks at random
			return p.err
		}
		return fmt.Errorf("%s on %s: %w after %v", p.name, p.host.Name, ErrStillRunning, timeout)
	}
}

// Stop sends SIGTERM and waits up to timeout for the exit; a process that
// does not exit in time is killed, and the error says so.
func (p *Proc) Stop(timeout time.Duration) error {
	if p.Exited() {
		return p.err
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	err := p.Wait(timeout)
	if errors.Is(err, ErrStillRunning) {
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	return err
}

// kill is the cleanup: a polite SIGTERM, then SIGKILL.
func (p *Proc) kill() {
	_ = p.Stop(3 * time.Second)
}

func (p *Proc) status() string {
	if !p.Exited() {
		return "running"
	}
	if p.err == nil {
		return "exited 0"
	}
	return p.err.Error()
}
