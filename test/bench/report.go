package bench

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// result is everything measured of one proxy.
type result struct {
	name string
	// process is false for the kernel: no process to take CPU, memory or
	// wakeups of.
	process bool
	idle    idleResult
	cold    dist
	// coldProbe is the part of a cold resolution until the proxy's probe
	// reaches the island, coldAnswer the rest.
	coldProbe, coldAnswer dist
	warm                  dist
	ladder                []rateStep
	floods                []floodStep
	// notes are diagnostics printed under the tables.
	notes []string
}

type idleResult struct {
	window   time.Duration
	switches int64
	active   int // seconds of the window with any context switch
	cpu      time.Duration
	rss      int64
}

// rateStep is one step of the throughput ladder: warm real targets asked at
// a fixed rate, answers counted.
type rateStep struct {
	rate     float64
	sent     int
	took     time.Duration
	answered uint64
	cpu      time.Duration // of the proxy over took plus the drain
	window   time.Duration
	tries    int // 2 when the first run of the step lost answers
}

func (s rateStep) lossless() bool { return s.sent > 0 && s.answered >= uint64(s.sent) }

// achieved is the rate the generator kept up, rounded to 100 NS/s.
func (s rateStep) achieved() string {
	return fmt.Sprintf("%.1fk", float64(s.sent)/s.took.Seconds()/1000)
}

func (s rateStep) answeredPct() float64 {
	if s.sent == 0 {
		return 0
	}
	return min(100, 100*float64(s.answered)/float64(s.sent))
}

// floodStep is one random-target flood with the real-host probers beside it.
type floodStep struct {
	rate float64
	sent int // flood solicitations
	took time.Duration
	// real is the warm real host, asked every 100 ms; fresh a real host
	// never asked before, one a second.
	real, fresh dist
	// upstream counts every solicitation of the step: flood, real, fresh.
	upstream   int
	downstream uint64 // solicitations seen on the island link
	cpu        time.Duration
	window     time.Duration // the flood and the drain after it
	hwm        int64
	// probes says how often the proxy probed sampled flood targets.
	probes spacing
}

// machine describes where and when the bench ran.
type machine struct {
	date, cpu, kernel, goVersion, ndppd, ndproxy string
	cores                                        int
	loadBefore, loadAfter                        string
	took                                         time.Duration
	// others is the CPU time other processes of the machine used during the
	// measurements; window is how long they took.
	others, window time.Duration
	// steal is the time the hypervisor kept this machine's CPUs waiting.
	steal   time.Duration
	command string
}

// targets are the goals of the issue, checked against ndproxy's numbers.
type check struct {
	goal, got string
	ok        bool
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3f", float64(d)/float64(time.Millisecond)) }

func mb(b int64) string { return fmt.Sprintf("%.1f MB", float64(b)/(1<<20)) }

func pct(cpu, window time.Duration) string {
	if window <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f %%", 100*cpu.Seconds()/window.Seconds())
}

func rate(r float64) string {
	if r >= 1000 && int(r)%1000 == 0 {
		return fmt.Sprintf("%dk", int(r)/1000)
	}
	return fmt.Sprintf("%.0f", r)
}

func (d dist) String() string {
	if d.answered == 0 {
		return "none answered"
	}
	return ms(d.p50) + " / " + ms(d.p99)
}

// orNone is String, or none when nothing was measured.
func (d dist) orNone(none string) string {
	if d.n == 0 {
		return none
	}
	return d.String()
}

func (d dist) count() string {
	return fmt.Sprintf("%d/%d (%.1f %%)", d.answered, d.n, d.answeredPct())
}

// table writes a Markdown table: a header row and rows of cells.
type table struct {
	b *strings.Builder
}

func (t table) row(cells ...string) {
	t.b.WriteString("| " + strings.Join(cells, " | ") + " |\n")
}

func (t table) header(cells ...string) {
	t.row(cells...)
	sep := make([]string, len(cells))
	for i := range sep {
		sep[i] = "---"
	}
	t.row(sep...)
}

// render writes the results as Markdown: the run, then one table per
// metric with a column per proxy.
func render(m machine, rs []result, checks []check) string {
	var b strings.Builder
	t := table{&b}
	head := append([]string{""}, names(rs)...)
	each := func(label string, f func(r result) string) {
		cells := []string{label}
		for _, r := range rs {
			cells = append(cells, f(r))
		}
		t.row(cells...)
	}
	proc := func(f func(r result) string) func(r result) string {
		return func(r result) string {
			if !r.process {
				return "– (in kernel)"
			}
			return f(r)
		}
	}

	fmt.Fprintf(&b, "Run %s: `%s`, %v.\n\n", m.date, m.command, m.took.Round(time.Second))
	fmt.Fprintf(&b, "- Machine: %s, %d cores, kernel %s, %s\n", m.cpu, m.cores, m.kernel, m.goVersion)
	fmt.Fprintf(&b, "- ndproxy %s; ndppd %s (Debian package)\n", m.ndproxy, m.ndppd)
	fmt.Fprintf(&b, "- Load average (1, 5, 15 min) before: %s; after: %s\n", m.loadBefore, m.loadAfter)
	fmt.Fprintf(&b, "- User CPU of other programs during the measurements: %.1f s in %v (%.0f %% of one core on average)\n",
		m.others.Seconds(), m.window.Round(time.Second), 100*m.others.Seconds()/max(m.window.Seconds(), 1))
	fmt.Fprintf(&b, "- CPU time stolen by the hypervisor during the measurements: %.1f s\n", m.steal.Seconds())
	if m.others.Seconds() > 0.1*m.window.Seconds() || m.steal.Seconds() > 0.05*m.window.Seconds() {
		b.WriteString("- **The machine was busy with other work: treat outliers, lost steps and CPU shares below with suspicion, and run again when it is quiet.**\n")
	}
	b.WriteString("\n")

	b.WriteString("**NS→NA latency** (ms; one solicitation at a time, p50 / p99)\n\n")
	t.header(head...)
	each(fmt.Sprintf("cold: first resolution (%d targets)", firstN(rs, func(r result) int { return r.cold.n })), func(r result) string { return r.cold.String() })
	each("cold: answered", func(r result) string { return r.cold.count() })
	each("cold: NS sent → probe on the island", func(r result) string { return r.coldProbe.orNone("– (no probe)") })
	each("cold: probe on the island → NA back", func(r result) string { return r.coldAnswer.orNone("– (no probe)") })
	each(fmt.Sprintf("warm (%d solicitations)", firstN(rs, func(r result) int { return r.warm.n })), func(r result) string { return r.warm.String() })
	each("warm: answered", func(r result) string { return r.warm.count() })

	b.WriteString("\n**Throughput**: warm real targets asked at a fixed rate\n\n")
	t.header(head...)
	each("highest rate answered without loss (NS/s)", func(r result) string {
		i := r.bestStep()
		switch {
		case i < 0:
			return "none"
		case i == len(r.ladder)-1:
			return "≥ " + r.ladder[i].achieved() + " (the top step)"
		}
		return r.ladder[i].achieved()
	})
	each("proxy CPU at that rate", proc(func(r result) string {
		if i := r.bestStep(); i >= 0 {
			return pct(r.ladder[i].cpu, r.ladder[i].window)
		}
		return "–"
	}))
	each("steps: NS/s sent → answered %", func(r result) string {
		var parts []string
		for _, s := range r.ladder {
			retried := ""
			if s.tries > 1 {
				retried = " (2nd try)"
			}
			parts = append(parts, fmt.Sprintf("%s→%.2f%s", s.achieved(), s.answeredPct(), retried))
		}
		return strings.Join(parts, ", ")
	})

	for i := range firstN(rs, func(r result) int { return len(r.floods) }) {
		f0 := rs[0].floods[i]
		fmt.Fprintf(&b, "\n**Random-target flood, %s NS/s for %v**, a real host resolved every 100 ms\n\n", rate(f0.rate), f0.took.Round(time.Second))
		t.header(head...)
		at := func(r result) floodStep {
			if i < len(r.floods) {
				return r.floods[i]
			}
			return floodStep{}
		}
		each("flood sent (NS/s)", func(r result) string { f := at(r); return fmt.Sprintf("%.0f", float64(f.sent)/f.took.Seconds()) })
		each("real host answered", func(r result) string { return at(r).real.count() })
		each("real host latency p50 / p99 (ms)", func(r result) string { return at(r).real.String() })
		each("new real host answered (1/s)", func(r result) string { return at(r).fresh.count() })
		each("new real host latency p50 / p99 (ms)", func(r result) string { return at(r).fresh.String() })
		each("proxy CPU (flood + drain)", proc(func(r result) string { f := at(r); return pct(f.cpu, f.window) }))
		each("CPU per flood NS", proc(func(r result) string {
			f := at(r)
			return fmt.Sprintf("%.1f µs", float64(f.cpu.Microseconds())/float64(max(f.sent, 1)))
		}))
		each("peak RSS (VmHWM)", proc(func(r result) string { return mb(at(r).hwm) }))
		each("NS sent downstream per NS received", func(r result) string {
			f := at(r)
			return fmt.Sprintf("%.3f (%d / %d)", float64(f.downstream)/float64(max(f.upstream, 1)), f.downstream, f.upstream)
		})
		each("probes of one flood target: most, closest two", func(r result) string {
			p := at(r).probes
			switch {
			case p.targets == 0:
				return "none seen"
			case p.closest == 0:
				return fmt.Sprintf("%d (%d targets sampled)", p.most, p.targets)
			}
			return fmt.Sprintf("%d, %s ms apart (%d targets sampled)", p.most, ms(p.closest), p.targets)
		})
	}

	b.WriteString("\n**Idle** (running, one target verified, no traffic)\n\n")
	t.header(head...)
	each("wakeups (context switches, all threads)", proc(func(r result) string {
		return fmt.Sprintf("%d in %v (%.1f/s), in %d of its seconds", r.idle.switches, r.idle.window.Round(time.Second),
			float64(r.idle.switches)/r.idle.window.Seconds(), r.idle.active)
	}))
	each("CPU", proc(func(r result) string { return r.idle.cpu.String() }))
	each("RSS", proc(func(r result) string { return mb(r.idle.rss) }))

	if len(checks) > 0 {
		b.WriteString("\n**ndproxy against the targets**\n\n")
		t.header("target", "measured", "")
		for _, c := range checks {
			v := "missed"
			if c.ok {
				v = "met"
			}
			t.row(c.goal, c.got, v)
		}
	}
	for _, r := range rs {
		for _, n := range r.notes {
			fmt.Fprintf(&b, "\n- %s: %s", r.name, n)
		}
	}
	b.WriteString("\n")
	return b.String()
}

// bestStep returns the index of the last ladder step before the first one
// that lost answers, or -1.
func (r result) bestStep() int {
	best := -1
	for i, s := range r.ladder {
		if !s.lossless() {
			break
		}
		best = i
	}
	return best
}

func names(rs []result) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.name)
	}
	return out
}

// firstN returns f of the first result (every proxy runs the same steps).
func firstN(rs []result, f func(result) int) int {
	if len(rs) == 0 {
		return 0
	}
	return f(rs[0])
}

// The generated part of docs/benchmarks.md lies between these lines; the
// prose around it is written by hand.
const (
	docBegin = "<!-- bench results: begin (written by make bench) -->"
	docEnd   = "<!-- bench results: end -->"
)

// spliceDoc returns doc with the text between its markers replaced by body.
func spliceDoc(doc []byte, body string) ([]byte, error) {
	i := bytes.Index(doc, []byte(docBegin))
	j := bytes.Index(doc, []byte(docEnd))
	if i < 0 || j < i {
		return nil, errors.New("no results markers " + docBegin + " … " + docEnd)
	}
	var out bytes.Buffer
	out.Write(doc[:i+len(docBegin)])
	out.WriteString("\n\n" + strings.TrimSpace(body) + "\n\n")
	out.Write(doc[j:])
	return out.Bytes(), nil
}

// writeDoc puts body between the markers of the file at path.
func writeDoc(path, body string) error {
	doc, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	out, err := spliceDoc(doc, body)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return os.WriteFile(path, out, 0o644)
}
