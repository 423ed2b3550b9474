package bench

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	var s []time.Duration
	for i := 1; i <= 200; i++ {
		s = append(s, time.Duration(i)*time.Microsecond)
	}
	for _, tt := range []struct {
		p    float64
		want time.Duration
	}{{50, 100 * time.Microsecond}, {99, 198 * time.Microsecond}, {100, 200 * time.Microsecond}, {0, time.Microsecond}} {
		if got := percentile(s, tt.p); got != tt.want {
			t.Errorf("percentile(1..200 µs, %v) = %v, want %v", tt.p, got, tt.want)
		}
	}
	if got := percentile(nil, 50); got != 0 {
		t.Errorf("percentile(nil) = %v, want 0", got)
	}
	d := newDist([]time.Duration{3, 1, 2}, 4)
	if d.answered != 3 || d.n != 4 || d.p50 != 2 || d.answeredPct() != 75 {
		t.Errorf("newDist = %+v, want 3 of 4 answered, p50 2", d)
	}
}

func TestProbeSpacing(t *testing.T) {
	a, b := netip.MustParseAddr("2001:db8::a"), netip.MustParseAddr("2001:db8::b")
	t0 := time.Unix(1000, 0)
	at := func(a netip.Addr, ms int) stamped {
		return stamped{target: a, at: t0.Add(time.Duration(ms) * time.Millisecond)}
	}
	ms := time.Millisecond
	for _, tt := range []struct {
		name string
		seen []stamped
		want spacing
	}{
		{"none", nil, spacing{}},
		{"once each", []stamped{at(a, 0), at(b, 5)}, spacing{targets: 2, most: 1}},
		{"a second apart", []stamped{at(a, 0), at(a, 1000), at(a, 2000)}, spacing{targets: 1, most: 3, closest: 1000 * ms}},
		{"out of order", []stamped{at(a, 1500), at(a, 0), at(a, 999)}, spacing{targets: 1, most: 3, closest: 501 * ms}},
		{"per target", []stamped{at(a, 0), at(b, 10), at(b, 30), at(b, 20), at(a, 2000)}, spacing{targets: 2, most: 3, closest: 10 * ms}},
	} {
		if got := probeSpacing(tt.seen); got != tt.want {
			t.Errorf("%s: probeSpacing = %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestStatusField(t *testing.T) {
	status := "Name:\tndproxy\nVmHWM:\t    9876 kB\nvoluntary_ctxt_switches:\t12\nnonvoluntary_ctxt_switches:\t3\n"
	for key, want := range map[string]int64{"VmHWM": 9876, "voluntary_ctxt_switches": 12, "nonvoluntary_ctxt_switches": 3, "VmRSS": 0} {
		if got := statusField(status, key); got != want {
			t.Errorf("statusField(%s) = %d, want %d", key, got, want)
		}
	}
}

func TestPace(t *testing.T) {
	n := 0
	sent, took := pace(2000, 200*time.Millisecond, func() error { n++; return nil })
	if took < 200*time.Millisecond || sent != n {
		t.Fatalf("pace took %v and reports %d of %d sends", took, sent, n)
	}
	// The bucket fills with the clock: never ahead of it. Behind it only by
	// what the last sleep took, which a busy machine stretches.
	if want := int(2000 * took.Seconds()); sent > want || sent < want/2 {
		t.Errorf("pace sent %d in %v, want about %d", sent, took, want)
	}
}

func TestSpliceDoc(t *testing.T) {
	doc := "# Benchmarks\n\nprose\n\n" + docBegin + "\nold table\n" + docEnd + "\n\nmore prose\n"
	out, err := spliceDoc([]byte(doc), "new table\n")
	if err != nil {
		t.Fatal(err)
	}
	want := "# Benchmarks\n\nprose\n\n" + docBegin + "\n\nnew table\n\n" + docEnd + "\n\nmore prose\n"
	if string(out) != want {
		t.Errorf("spliceDoc:\n%s\nwant:\n%s", out, want)
	}
	if _, err := spliceDoc([]byte("no markers"), "x"); err == nil || !strings.Contains(err.Error(), "markers") {
		t.Errorf("spliceDoc without markers: %v, want an error naming the markers", err)
	}
}
