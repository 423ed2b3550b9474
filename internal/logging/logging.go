// Package logging builds ndproxy's logger: slog text lines without
// timestamps (procd/logd and journald add their own), with the syslog
// priority prefix journald reads when stderr is connected to the journal.
package logging

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"sync"
)

// New returns a logger writing to w at level. With journal set each line
// starts with <N>, the sd-daemon(3) priority prefix, so that
// `journalctl -p warning` finds ndproxy's warnings.
func New(w io.Writer, level slog.Leveler, journal bool) *slog.Logger {
	opts := &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey && len(groups) == 0 {
				return slog.Attr{}
			}
			return a
		},
	}
	if !journal {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	h := &journalHandler{w: w, mu: new(sync.Mutex), buf: new(bytes.Buffer)}
	h.text = slog.NewTextHandler(h.buf, opts)
	return slog.New(h)
}

// ToJournal reports whether stderr is the journal: systemd sets
// JOURNAL_STREAM for services whose output goes there.
func ToJournal() bool { return os.Getenv("JOURNAL_STREAM") != "" }

// journalHandler formats with a text handler into a buffer and writes the
// line with its priority prefix in one write.
type journalHandler struct {
	w io.Writer
	// mu protects buf, which text writes into; handlers made by WithAttrs
	// and WithGroup share both.
	mu   *sync.Mutex
	buf  *bytes.Buffer
	text slog.Handler
}

func (h *journalHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.text.Enabled(ctx, l)
}

func (h *journalHandler) Handle(ctx context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.buf.Reset()
	h.buf.WriteString(priority(r.Level))
	if err := h.text.Handle(ctx, r); err != nil {
		return err
	}
	_, err := h.w.Write(h.buf.Bytes())
	return err
}

func (h *journalHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &journalHandler{w: h.w, mu: h.mu, buf: h.buf, text: h.text.WithAttrs(as)}
}

func (h *journalHandler) WithGroup(name string) slog.Handler {
	return &journalHandler{w: h.w, mu: h.mu, buf: h.buf, text: h.text.WithGroup(name)}
}

// priority maps a level to syslog's: err 3, warning 4, info 6, debug 7.
func priority(l slog.Level) string {
	switch {
	case l >= slog.LevelError:
		return "<3>"
	case l >= slog.LevelWarn:
		return "<4>"
	case l >= slog.LevelInfo:
		return "<6>"
	}
	return "<7>"
}
