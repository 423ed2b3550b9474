// Command ndproxy answers IPv6 Neighbor Discovery for hosts one hop behind
// this router, so that they can use addresses from the upstream's /64.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/ndproxy/ndproxy/internal/config"
	"github.com/ndproxy/ndproxy/internal/control"
	"github.com/ndproxy/ndproxy/internal/daemon"
	"github.com/ndproxy/ndproxy/internal/diagnose"
	"github.com/ndproxy/ndproxy/internal/logging"
	"github.com/ndproxy/ndproxy/internal/wg"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `usage: ndproxy <command> [flags]

commands:
  run     [-c FILE]                 run the daemon in the foreground
  check   [-c FILE] [-v] [--config-only]  validate a configuration file, then this host against it
  status  [-c FILE | -s SOCKET] [--json]  show what the running daemon proxies
  reload  [-c FILE | -s SOCKET]     make the running daemon re-read its configuration
  wg-lla  PUBLIC-KEY...              print the link-local address derived from WireGuard keys
  version                           print the version
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	cmd, args := os.Args[1], os.Args[2:]
	var err error
	switch cmd {
	case "run":
		err = run(args)
	case "check":
		err = check(args, os.Stdout)
	case "status":
		err = status(args, os.Stdout)
	case "reload":
		err = reload(args)
	case "wg-lla":
		err = wgLLA(args, os.Stdout)
	case "version", "-v", "--version":
		fmt.Println("ndproxy", version)
	case "help", "-h", "--help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "ndproxy: unknown command %q\n\n%s", cmd, usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ndproxy:", err)
		os.Exit(1)
	}
}

func flags(name string) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	path := fs.String("c", config.DefaultPath, "configuration `file`")
	return fs, path
}

func run(args []string) error {
	fs, path := flags("run")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return err
	}
	level := new(slog.LevelVar)
	level.Set(daemon.Level(cfg.Global.LogLevel))
	log := logging.New(os.Stderr, level, logging.ToJournal())

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	hups := make(chan os.Signal, 1)
	signal.Notify(hups, syscall.SIGHUP)
	hup := make(chan struct{}, 1)
	go func() {
		for range hups {
			select {
			case hup <- struct{}{}:
			default:
			}
		}
	}()
	return daemon.New(*path, cfg, log, level).Run(ctx, hup)
}

func check(args []string, out io.Writer) error {
	fs, path := flags("check")
	verbose := fs.Bool("v", false, "also print the checks that passed")
	configOnly := fs.Bool("config-only", false, "validate the file only, do not look at this host")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%s: ok, enabled: %d proxy, %d mdns, %d wireguard section(s)\n",
		*path, len(cfg.Proxies), len(cfg.Reflectors), len(cfg.WireGuard))
	if *configOnly {
		return nil
	}
	snap, err := diagnose.Gather(context.Background(), cfg)
	if err != nil {
		return fmt.Errorf("reading this host's network state: %w", err)
	}
	if n := diagnose.Write(out, diagnose.Check(*path, cfg, snap), *verbose); n > 0 {
		return fmt.Errorf("%d problem(s) found", n)
	}
	fmt.Fprintln(out, "no problems found")
	return nil
}

// socketPath finds the control socket: -s, or the one the config names.
func socketPath(name string, args []string) (string, *flag.FlagSet, *bool, error) {
	fs, path := flags(name)
	sock := fs.String("s", "", "control `socket` (default: the config's global socket)")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return "", nil, nil, err
	}
	if *sock != "" {
		return *sock, fs, asJSON, nil
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return "", nil, nil, fmt.Errorf("finding the control socket: %w", err)
	}
	return cfg.Global.Socket, fs, asJSON, nil
}

func reload(args []string) error {
	sock, _, _, err := socketPath("reload", args)
	if err != nil {
		return err
	}
	return control.Reload(sock)
}

func status(args []string, out io.Writer) error {
	sock, _, asJSON, err := socketPath("status", args)
	if err != nil {
		return err
	}
	st, err := control.GetStatus(sock)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	printStatus(out, st)
	return nil
}

func printStatus(out io.Writer, st control.Status) {
	if len(st.Proxies) == 0 && len(st.Reflectors) == 0 && len(st.WireGuard) == 0 {
		fmt.Fprintln(out, "no proxy, mdns or wireguard sections enabled in", st.Config)
	}
	for _, p := range st.Proxies {
		prefixes := make([]string, 0, len(p.Prefixes))
		for _, q := range p.Prefixes {
			if src := p.PrefixSources[q]; src != "" && src != "config" {
				q += " (" + src + ")"
			}
			prefixes = append(prefixes, q)
		}
		fmt.Fprintf(out, "proxy %s: upstream %s, downstream %s, prefixes %s, verify %s, route %s\n",
			p.Name, p.Upstream, orNone(p.Downstream), strings.Join(prefixes, " "), p.Verify, p.Route)
		if p.RARelay != nil {
			printRelay(out, p.RARelay)
		}
		if p.State != "running" {
			fmt.Fprintf(out, "  waiting: %s\n", p.WaitingFor)
			continue
		}
		if len(p.Targets) == 0 {
			fmt.Fprintln(out, "  no targets yet")
		}
		for _, t := range p.Targets {
			line := fmt.Sprintf("  %-40s %-10s", t.Address, t.State)
			if t.Interface != "" {
				line += fmt.Sprintf(" on %-8s learned by %-9s", t.Interface, t.Learned)
			}
			fmt.Fprintf(out, "%s %6.1fs\n", strings.TrimRight(line, " "), t.AgeSeconds)
		}
		if c := p.Counters; c != nil {
			fmt.Fprintf(out, "  solicitations %d, answered %d, probes sent %d, verified %d, expired %d\n",
				c.Received, c.Answered, c.ProbesSent, c.Verified, c.Expired)
			if len(c.Dropped) > 0 {
				fmt.Fprintf(out, "  dropped: %v\n", c.Dropped)
			}
			if len(c.Ignored) > 0 {
				fmt.Fprintf(out, "  not answered: %v\n", c.Ignored)
			}
		}
	}
	for _, r := range st.Reflectors {
		fmt.Fprintf(out, "mdns %s: %s, reflecting between %s\n", r.Name, r.State, orNone(r.Reflecting))
		for _, i := range r.Interfaces {
			if why := r.Waiting[i]; why != "" {
				fmt.Fprintf(out, "  waiting for %s: %s\n", i, why)
			}
		}
		if c := r.Counters; c != nil {
			fmt.Fprintf(out, "  received %d, relayed %d, legacy queries %d, records filtered %d, held back %d\n",
				c.Received, c.Relayed, c.LegacyQueries, c.RecordsFiltered, c.RecordsSuppressed)
			if len(c.Dropped) > 0 {
				fmt.Fprintf(out, "  dropped: %v\n", c.Dropped)
			}
		}
	}
	for _, w := range st.WireGuard {
		fmt.Fprintf(out, "wireguard %s: device %s\n", w.Name, w.Device)
		if w.RAAdvertise != nil {
			printAdvertiser(out, w.RAAdvertise)
		}
	}
	for _, w := range st.Warnings {
		fmt.Fprintln(out, "warning:", w)
	}
	if len(st.Routes) > 0 {
		fmt.Fprintln(out, "routes owned:")
		for _, r := range st.Routes {
			fmt.Fprintln(out, "  "+r)
		}
	}
	if len(st.Sysctls) > 0 {
		fmt.Fprintln(out, "sysctls changed (restored on exit):")
		for _, s := range st.Sysctls {
			fmt.Fprintf(out, "  %s: %s -> %s\n", s.Key, s.Original, s.Set)
		}
	}
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "(none)"
	}
	return strings.Join(s, " ")
}

// wgLLA prints the link-local address of each WireGuard public key
// (docs/wireguard.md) and fails when two keys share one.
func wgLLA(args []string, out io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: ndproxy wg-lla PUBLIC-KEY...")
	}
	keys := make([][32]byte, 0, len(args))
	for _, a := range args {
		k, err := wg.ParseKey(a)
		if err != nil {
			return err
		}
		keys = append(keys, k)
	}
	for i, k := range keys {
		if len(keys) == 1 {
			fmt.Fprintln(out, wg.LinkLocal(k))
		} else {
			fmt.Fprintf(out, "%s %s\n", args[i], wg.LinkLocal(k))
		}
	}
	var shared []string
	for addr := range wg.Collisions(keys) {
		shared = append(shared, addr.String())
	}
	if len(shared) > 0 {
		sort.Strings(shared)
		return fmt.Errorf("keys derive the same address (%s): list each peer once", strings.Join(shared, ", "))
	}
	return nil
}
