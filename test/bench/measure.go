package bench

import (
	"fmt"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// pace calls send rate times a second for d: a token bucket filled by the
// clock and emptied every tick, so the rate holds on average whatever the
// sleep granularity. A send that fails is not retried; pace returns how
// many succeeded and how long it took. At most maxBurst packets go out per
// tick, so a stalled sender catches up in bursts the asker's link can take.
func pace(rate float64, d time.Duration, send func() error) (sent int, took time.Duration) {
	const (
		tick     = 200 * time.Microsecond
		maxBurst = 256
	)
	start := time.Now()
	attempts := 0
	for {
		el := time.Since(start)
		if el >= d {
			return sent, el
		}
		due := int(rate * el.Seconds())
		for n := 0; attempts < due && n < maxBurst; n++ {
			attempts++
			if send() == nil {
				sent++
			}
		}
		time.Sleep(tick)
	}
}

// dist summarises latencies.
type dist struct {
	n        int // samples taken, answered or not
	answered int
	p50, p99 time.Duration
}

func newDist(samples []time.Duration, n int) dist {
	s := slices.Clone(samples)
	slices.Sort(s)
	return dist{n: n, answered: len(s), p50: percentile(s, 50), p99: percentile(s, 99)}
}

// percentile returns the nearest-rank p-th percentile of sorted (0 if empty).
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[max(i, 0)]
}

func (d dist) answeredPct() float64 {
	if d.n == 0 {
		return 0
	}
	return 100 * float64(d.answered) / float64(d.n)
}

// spacing describes how often a proxy probed each of a set of targets.
type spacing struct {
	targets int // targets probed at all
	most    int // probes of the target probed most
	// closest is the shortest time between two probes of one target; 0 when
	// no target was probed twice.
	closest time.Duration
}

// probeSpacing groups probes by target.
func probeSpacing(seen []stamped) spacing {
	by := map[netip.Addr][]time.Time{}
	for _, s := range seen {
		by[s.target] = append(by[s.target], s.at)
	}
	sp := spacing{targets: len(by)}
	for _, ts := range by {
		slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
		sp.most = max(sp.most, len(ts))
		for i := 1; i < len(ts); i++ {
			if gap := ts[i].Sub(ts[i-1]); sp.closest == 0 || gap < sp.closest {
				sp.closest = gap
			}
		}
	}
	return sp
}

// procStat is what /proc says about a process at one moment.
type procStat struct {
	cpu      time.Duration // user + system, every thread
	hwm, rss int64         // bytes: peak and current resident set
	switches int64         // context switches of every thread, voluntary or not
}

// clockTick is USER_HZ, the unit of utime and stime in /proc/<pid>/stat:
// 100 on every Linux architecture ndproxy runs on.
const clockTick = 100

func readProc(pid int) (procStat, error) {
	var st procStat
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return st, err
	}
	// Fields after the command name, which may hold spaces, in parentheses.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return st, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14 of proc(5)
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		return st, fmt.Errorf("/proc/%d/stat: bad utime or stime", pid)
	}
	st.cpu = time.Duration(utime+stime) * time.Second / clockTick

	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return st, err
	}
	st.hwm = statusField(string(status), "VmHWM") * 1024
	st.rss = statusField(string(status), "VmRSS") * 1024
	// /proc/<pid>/status counts the switches of the main thread only; the
	// Go runtime has several.
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	if err != nil {
		return st, err
	}
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue // the thread has exited
		}
		st.switches += statusField(string(b), "voluntary_ctxt_switches") + statusField(string(b), "nonvoluntary_ctxt_switches")
	}
	return st, nil
}

// cpuTotals are the user CPU times of the whole machine and of this process
// with every child it has reaped (the proxies, ip, sysctl, go build): the
// difference over a run is what other programs took from the bench. System
// time is left out on both sides: kernel threads (ksoftirqd) spend it on the
// bench's own packets. steal is the time the hypervisor ran something else
// while this virtual machine wanted to run: contention no process here shows.
type cpuTotals struct{ machine, self, steal time.Duration }

func readCPUTotals() (cpuTotals, error) {
	var c cpuTotals
	ticks := func(fields []string) (time.Duration, error) {
		var sum time.Duration
		for _, v := range fields {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return 0, err
			}
			sum += time.Duration(n) * time.Second / clockTick
		}
		return sum, nil
	}
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return c, err
	}
	// cpu user nice system idle iowait irq softirq steal ...
	f := strings.Fields(strings.SplitN(string(b), "\n", 2)[0])
	if len(f) < 9 || f[0] != "cpu" {
		return c, fmt.Errorf("/proc/stat: unexpected first line")
	}
	if c.machine, err = ticks(f[1:3]); err != nil {
		return c, fmt.Errorf("/proc/stat: %w", err)
	}
	if c.steal, err = ticks(f[8:9]); err != nil {
		return c, fmt.Errorf("/proc/stat: %w", err)
	}
	if b, err = os.ReadFile("/proc/self/stat"); err != nil {
		return c, err
	}
	s := string(b)
	f = strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 14 {
		return c, fmt.Errorf("/proc/self/stat: %d fields", len(f))
	}
	if c.self, err = ticks([]string{f[11], f[13]}); err != nil { // utime, cutime
		return c, fmt.Errorf("/proc/self/stat: %w", err)
	}
	return c, nil
}

// statusField returns the number of a "Key:\tN [kB]" line, or 0.
func statusField(status, key string) int64 {
	for _, line := range strings.Split(status, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || k != key {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			return 0
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		return n
	}
	return 0
}
