// Package kernel changes kernel state on ndproxy's behalf — sysctls and routes —
// and remembers every change so that it can be undone.
package kernel

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// SysctlRoot is where the kernel exposes sysctls.
const SysctlRoot = "/proc/sys"

// IPv6Conf returns the sysctl path, relative to SysctlRoot, of an IPv6 per-interface
// setting; iface may be "all" or "default". Interface names may contain dots
// (eth0.2), so the path is built with slashes, never with sysctl(8)'s dotted form.
func IPv6Conf(iface, key string) string {
	return filepath.Join("net/ipv6/conf", iface, key)
}

// Sysctls writes sysctls and remembers the value each had before ndproxy first
// changed it, so that Restore can put the host back as it found it.
type Sysctls struct {
	root string
	// state is a file that keeps the original values across a crash, so
	// that the next run restores them rather than taking ndproxy's own
	// values for the host's; empty for none.
	state string

	mu sync.Mutex
	// changed lists the keys in the order they were first changed; restoring
	// goes backwards, which matters: accept_ra=2 must be set before forwarding
	// is turned on (turning forwarding on purges RA default routes of
	// interfaces whose accept_ra is not 2) and restored after it is turned off.
	changed []sysctlChange
}

type sysctlChange struct{ key, orig, set string }

// NewSysctls returns a Sysctls working under root (SysctlRoot outside tests),
// keeping the original values in the file state (on a tmpfs such as /run: a
// reboot resets the sysctls too). A state file left by a run that crashed is
// taken over: its originals are what Restore puts back.
func NewSysctls(root, state string) *Sysctls {
	s := &Sysctls{root: root, state: state}
	if state == "" {
		return s
	}
	b, err := os.ReadFile(state)
	if err != nil {
		return s
	}
	var saved []SysctlChange
	if json.Unmarshal(b, &saved) == nil {
		for _, c := range saved {
			s.changed = append(s.changed, sysctlChange{key: c.Key, orig: c.Original, set: c.Set})
		}
	}
	return s
}

// saveLocked writes the changes to the state file; s.mu is held.
func (s *Sysctls) saveLocked() error {
	if s.state == "" {
		return nil
	}
	out := make([]SysctlChange, len(s.changed))
	for i, c := range s.changed {
		out[i] = SysctlChange{Key: c.key, Original: c.orig, Set: c.set}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return err
	}
	tmp := s.state + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("save sysctl originals: %w", err)
	}
	return os.Rename(tmp, s.state)
}

// Read returns the value of key, without the trailing newline.
func (s *Sysctls) Read(key string) (string, error) {
	b, err := os.ReadFile(filepath.Join(s.root, key))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// Set writes value to key if it differs, remembering the original value the
// first time.
func (s *Sysctls) Set(key, value string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, err := s.Read(key)
	if err != nil {
		return fmt.Errorf("sysctl %s: %w", key, err)
	}
	if cur == value {
		return nil
	}
	if err := os.WriteFile(filepath.Join(s.root, key), []byte(value), 0o644); err != nil {
		return fmt.Errorf("sysctl %s=%s: %w", key, value, err)
	}
	for i := range s.changed {
		if s.changed[i].key == key {
			s.changed[i].set = value
			return s.saveLocked()
		}
	}
	s.changed = append(s.changed, sysctlChange{key: key, orig: cur, set: value})
	return s.saveLocked()
}

// Owned returns the keys ndproxy changed with their original and current
// (as set) values, in the order they were changed.
func (s *Sysctls) Owned() []SysctlChange {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]SysctlChange, len(s.changed))
	for i, c := range s.changed {
		out[i] = SysctlChange{Key: c.key, Original: c.orig, Set: c.set}
	}
	return out
}

// SysctlChange describes one sysctl that ndproxy changed.
type SysctlChange struct {
	Key      string `json:"key"`
	Original string `json:"original"`
	Set      string `json:"set"`
}

// Restore puts back every original value, newest change first. A value that
// someone else changed after ndproxy is left alone, and so is a key whose
// interface has gone.
func (s *Sysctls) Restore() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for i := len(s.changed) - 1; i >= 0; i-- {
		c := s.changed[i]
		cur, err := s.Read(c.key)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("sysctl %s: %w", c.key, err))
			continue
		}
		if cur != c.set {
			continue
		}
		if err := os.WriteFile(filepath.Join(s.root, c.key), []byte(c.orig), 0o644); err != nil {
			errs = append(errs, fmt.Errorf("restore sysctl %s=%s: %w", c.key, c.orig, err))
		}
	}
	s.changed = nil
	if s.state != "" {
		if err := os.Remove(s.state); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
