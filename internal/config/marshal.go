package config

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Marshal writes c as a UCI file with every option spelled out, defaults
// included. Parse reads the result back into an equal Config, except that
// anonymous sections are numbered afresh: disabled sections are not in c.
//
// It fails for values a UCI file cannot carry through go-uci: empty ones, and
// ones with a newline, a backslash or both kinds of quote.
func (c *Config) Marshal() ([]byte, error) {
	w := uciWriter{}
	w.section("global", "")
	w.option("log_level", c.Global.LogLevel)
	w.option("socket", c.Global.Socket)

	for _, p := range c.Proxies {
		name := p.Name
		if strings.HasPrefix(name, "@") {
			name = "" // anonymous
		} else if !validName(name) {
			return nil, fmt.Errorf("marshal config: proxy section name %q is not valid: use letters, digits and _", name)
		}
		w.section("proxy", name)
		w.option("enabled", "1")
		w.option("upstream", p.Upstream)
		for _, d := range p.Downstream {
			w.list("downstream", d)
		}
		for _, q := range p.Prefixes {
			w.list("prefix", q.String())
		}
		for _, f := range p.PrefixFrom {
			w.list("prefix_from", f)
		}
		w.option("verify", string(p.Verify))
		w.option("route", string(p.Route))
		w.option("route_metric", strconv.Itoa(p.RouteMetric))
		w.option("router", formatBool(p.Router))
		w.option("override", formatBool(p.Override))
		w.duration("valid_ttl", p.ValidTTL)
		w.duration("invalid_ttl", p.InvalidTTL)
		w.duration("probe_timeout", p.ProbeTimeout)
		w.option("probe_retries", strconv.Itoa(p.ProbeRetries))
		w.option("ra_relay", formatBool(p.RARelay))
		w.option("ra_onlink", formatBool(p.RAOnLink))
		for _, a := range p.RADNS {
			w.list("ra_dns", a.String())
		}
		w.duration("ra_interval", p.RAInterval)
		w.duration("ra_holddown", p.RAHoldDown)
	}
	for _, r := range c.Reflectors {
		w.reflector(r)
	}
	for _, g := range c.WireGuard {
		w.wireguard(g)
	}
	if w.err != nil {
		return nil, w.err
	}
	return w.buf.Bytes(), nil
}

// uciWriter writes UCI lines and keeps the first error.
type uciWriter struct {
	buf bytes.Buffer
	err error
}

func (w *uciWriter) section(typ, name string) {
	if w.buf.Len() > 0 {
		w.buf.WriteByte('\n')
	}
	if name == "" {
		fmt.Fprintf(&w.buf, "config %s\n", typ)
	} else {
		fmt.Fprintf(&w.buf, "config %s '%s'\n", typ, name)
	}
}

func (w *uciWriter) option(name, value string) { w.line("option", name, value) }
func (w *uciWriter) list(name, value string)   { w.line("list", name, value) }

func (w *uciWriter) duration(name string, d time.Duration) {
	if d < 0 || d%time.Millisecond != 0 {
		w.fail(fmt.Errorf("marshal config: %s %v is not a whole number of milliseconds", name, d))
		return
	}
	w.option(name, formatDuration(d))
}

func (w *uciWriter) line(keyword, name, value string) {
	q, err := quote(value)
	if err != nil {
		w.fail(fmt.Errorf("marshal config: %s: %w", name, err))
		return
	}
	fmt.Fprintf(&w.buf, "\t%s %s %s\n", keyword, name, q)
}

func (w *uciWriter) fail(err error) {
	if w.err == nil {
		w.err = err
	}
}

// quote puts v in quotes go-uci reads back as v. go-uci keeps backslashes in
// values as they are, so there is no escaping: a value with a single quote
// goes in double quotes, and one with both cannot be written.
func quote(v string) (string, error) {
	switch {
	case v == "":
		return "", fmt.Errorf("empty value") // go-uci fails on ''
	case strings.ContainsAny(v, "\n\\"):
		return "", fmt.Errorf("%q holds a newline or a backslash", v)
	case !strings.Contains(v, "'"):
		return "'" + v + "'", nil
	case !strings.Contains(v, `"`):
		return `"` + v + `"`, nil
	}
	return "", fmt.Errorf("%q holds both kinds of quote", v)
}

func formatBool(b bool) string {
	if b {
		return "1"
	}
	return "0"
}
