package logging

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestJournalPriorities(t *testing.T) {
	var b bytes.Buffer
	log := New(&b, slog.LevelDebug, true).With("proxy", "island")
	log.Debug("probe sent")
	log.Info("target verified")
	log.Warn("send probe failed")
	log.Error("receive failed")
	want := []string{
		`<7>level=DEBUG msg="probe sent" proxy=island`,
		`<6>level=INFO msg="target verified" proxy=island`,
		`<4>level=WARN msg="send probe failed" proxy=island`,
		`<3>level=ERROR msg="receive failed" proxy=island`,
	}
	if got := strings.Split(strings.TrimSpace(b.String()), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestPlainHasNoPrefixAndNoTime(t *testing.T) {
	var b bytes.Buffer
	New(&b, slog.LevelInfo, false).Info("ndproxy started", "proxies", 1)
	if got, want := b.String(), "level=INFO msg=\"ndproxy started\" proxies=1\n"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}
