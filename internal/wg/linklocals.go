package wg

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/ndproxy/ndproxy/internal/world"
	"golang.org/x/sys/unix"
)

// LinkLocals puts the derived link-local addresses that wireguard sections
// want on their devices, and removes those ndproxy added that nobody wants
// any more: now, or since a predecessor was killed before it could clean
// up. Which addresses ndproxy added the kernel knows, by their mark
// (AddrProtocol), so an address the admin added or claimed since is never
// removed. A kernel before 5.18 keeps no mark: then only what this run
// added is known, from memory, and a killed run's leftovers stay. Only the
// daemon's run loop uses it.
type LinkLocals struct {
	log *slog.Logger
	k   addrKernel
	// marked are the addresses that carried ndproxy's mark at the last
	// listing, less those removed since; nil before the first listing.
	marked []LinkAddr
	// unmarked are the addresses this run added that the kernel listed
	// without the mark: removed from memory when no longer wanted, and on
	// shutdown, as there is nothing else to tell them by.
	unmarked []LinkAddr
	// warnedUnmarked is set once an address ndproxy added was listed
	// without its mark, which is logged once.
	warnedUnmarked bool
}

// addrKernel is what LinkLocals needs of the kernel; kernelAddrs talks to
// it, a fake in the tests.
type addrKernel interface {
	List() ([]LinkAddr, error)
	// Add adds the address marked with AddrProtocol; EEXIST when the link
	// has it already.
	Add(world.Addr) error
	Del(world.Addr) error
}

// NewLinkLocals returns a LinkLocals that logs through log.
func NewLinkLocals(log *slog.Logger) *LinkLocals {
	return &LinkLocals{log: log, k: kernelAddrs{}}
}

// Apply adds the addresses of want that their links lack, and removes the
// marked addresses want does not name. w is this reconcile's snapshot.
func (l *LinkLocals) Apply(w *world.World, want []world.Addr) []error {
	var errs []error
	var added []world.Addr
	for _, a := range want {
		if slices.ContainsFunc(w.AddrsOf(a.LinkIndex), func(have world.Addr) bool { return have.Prefix.Addr() == a.Prefix.Addr() }) {
			continue // ours from before, or the admin's: either way there
		}
		err := l.k.Add(a)
		switch {
		case errors.Is(err, unix.EEXIST):
			continue // put there since the snapshot, so not by ndproxy
		case err != nil:
			errs = append(errs, fmt.Errorf("derived link-local: %w", err))
			continue
		}
		l.log.Info("derived link-local address added", "device", linkName(w, a.LinkIndex), "address", a.Prefix)
		added = append(added, a)
	}
	l.unmarked = slices.DeleteFunc(l.unmarked, func(a LinkAddr) bool {
		if wanted(want, a) {
			return false
		}
		if err := l.remove(w, a); err != nil {
			errs = append(errs, err)
			return false
		}
		return true
	})
	// Only a listing shows the marks. A mark appears only where Add put
	// it, so one is needed on the first call (a predecessor's leftovers),
	// after an Add (did the kernel keep the mark?) and before a removal
	// (is the address still ours?); the steady state asks nothing.
	if l.marked != nil && len(added) == 0 && !slices.ContainsFunc(l.marked, func(a LinkAddr) bool { return !wanted(want, a) }) {
		return errs
	}
	have, err := l.k.List()
	if err != nil {
		return append(errs, fmt.Errorf("derived link-locals: %w", err))
	}
	l.checkMarks(w, have, added)
	l.marked = slices.DeleteFunc(marked(have), func(a LinkAddr) bool {
		if wanted(want, a) {
			return false
		}
		if err := l.remove(w, a); err != nil {
			errs = append(errs, err)
			return false // tried again by the next reconcile
		}
		return true
	})
	return errs
}

// Shutdown removes every address carrying ndproxy's mark. w is the last
// snapshot, for the devices' names; nil if there was none.
func (l *LinkLocals) Shutdown(w *world.World) error {
	have, err := l.k.List()
	if err != nil {
		return fmt.Errorf("derived link-locals: %w", err)
	}
	var errs []error
	for _, a := range append(marked(have), l.unmarked...) {
		if err := l.remove(w, a); err != nil {
			errs = append(errs, err)
		}
	}
	l.marked, l.unmarked = nil, nil
	return errors.Join(errs...)
}

func (l *LinkLocals) remove(w *world.World, a LinkAddr) error {
	if err := l.k.Del(world.Addr{LinkIndex: a.LinkIndex, Prefix: a.Prefix}); err != nil {
		return fmt.Errorf("derived link-local: %w", err)
	}
	l.log.Info("derived link-local address removed", "device", linkName(w, a.LinkIndex), "address", a.Prefix)
	return nil
}

// checkMarks remembers the addresses ndproxy just added that are listed
// without its mark, and warns once that a killed run's would stay.
func (l *LinkLocals) checkMarks(w *world.World, have []LinkAddr, added []world.Addr) {
	for _, a := range added {
		i := slices.IndexFunc(have, func(h LinkAddr) bool { return h.LinkIndex == a.LinkIndex && h.Prefix.Addr() == a.Prefix.Addr() })
		if i < 0 || have[i].Proto == AddrProtocol {
			continue // gone again, or marked
		}
		l.unmarked = append(l.unmarked, have[i])
		if !l.warnedUnmarked {
			l.log.Warn("derived link-local address is not marked as ndproxy's (the kernel keeps address protocols from Linux 5.18 on): "+
				"it is removed when no longer wanted and when ndproxy stops, but one left by a killed ndproxy stays",
				"device", linkName(w, a.LinkIndex), "address", a.Prefix, "protocol", have[i].Proto)
			l.warnedUnmarked = true
		}
	}
}

// marked returns the addresses of have that carry ndproxy's mark, never
// nil.
func marked(have []LinkAddr) []LinkAddr {
	out := []LinkAddr{}
	for _, a := range have {
		if a.Proto == AddrProtocol {
			out = append(out, a)
		}
	}
	return out
}

func wanted(want []world.Addr, a LinkAddr) bool {
	return slices.ContainsFunc(want, func(w world.Addr) bool { return w.LinkIndex == a.LinkIndex && w.Prefix.Addr() == a.Prefix.Addr() })
}

// linkName names link index i for the log: its name when w knows it.
func linkName(w *world.World, i int) string {
	if w != nil {
		if l, ok := w.LinkByIndex(i); ok {
			return l.Name
		}
	}
	return fmt.Sprint(i)
}
