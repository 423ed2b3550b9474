// Package control serves the daemon's status and reload over a local unix
// socket, and is the client that `ndproxy status` uses.
package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/ndproxy/ndproxy/internal/kernel"
	"github.com/ndproxy/ndproxy/internal/mdns"
	"github.com/ndproxy/ndproxy/internal/proxy"
	"github.com/ndproxy/ndproxy/internal/ra"
)

// Status is what the daemon reports. Its JSON shape is documented in
// docs/status.md and is what `ndproxy status --json` prints.
type Status struct {
	Config  string                `json:"config"`
	Proxies []ProxyStatus         `json:"proxies"`
	Sysctls []kernel.SysctlChange `json:"sysctls"`
	Routes  []string              `json:"routes"`
	// Warnings are problems the daemon met applying its plan (a sysctl it
	// could not set, a route the kernel refused).
	Warnings []string `json:"warnings"`
	// Reflectors are the enabled mdns sections.
	Reflectors []ReflectorStatus `json:"reflectors,omitempty"`
	// WireGuard are the enabled wireguard sections.
	WireGuard []WireGuardStatus `json:"wireguard,omitempty"`
}

// WireGuardStatus is one wireguard section.
type WireGuardStatus struct {
	Name   string `json:"name"`
	Device string `json:"device"`
	// RAAdvertise is the section's Router Advertisement sender, if
	// ra_advertise is on.
	RAAdvertise *ra.Status `json:"ra_advertise,omitempty"`
}

// ReflectorStatus is one mdns section.
type ReflectorStatus struct {
	Name       string   `json:"name"`
	Interfaces []string `json:"interfaces"`
	// Reflecting are the devices it reflects between now; Waiting says
	// why each other configured interface is not among them.
	Reflecting []string          `json:"reflecting"`
	Waiting    map[string]string `json:"waiting,omitempty"`
	// State is "running" with two links or more, else "waiting".
	State    string         `json:"state"`
	Counters *mdns.Counters `json:"counters,omitempty"`
}

// ProxyStatus is one proxy section.
type ProxyStatus struct {
	Name       string   `json:"name"`
	Upstream   string   `json:"upstream"`
	Downstream []string `json:"downstream"`
	Prefixes   []string `json:"prefixes"`
	// PrefixSources says where each prefix in force came from: "config",
	// or "<interface> on-link" / "<interface> delegated" for prefix_from.
	PrefixSources map[string]string `json:"prefix_sources,omitempty"`
	Verify        string            `json:"verify"`
	Route         string            `json:"route"`
	// State is "running" or "waiting"; WaitingFor says for what.
	State      string          `json:"state"`
	WaitingFor string          `json:"waiting_for,omitempty"`
	Targets    []TargetStatus  `json:"targets"`
	Counters   *proxy.Counters `json:"counters,omitempty"`
	// RARelay is the section's Router Advertisement relay, if ra_relay is on.
	RARelay *ra.Status `json:"ra_relay,omitempty"`
}

// TargetStatus is one target of a proxy.
type TargetStatus struct {
	Address    string  `json:"address"`
	State      string  `json:"state"`
	Interface  string  `json:"interface,omitempty"`
	Learned    string  `json:"learned,omitempty"`
	AgeSeconds float64 `json:"age_seconds"`
}

// Handler answers control requests.
type Handler interface {
	Status() Status
	// Reload re-reads the configuration; an error leaves the old one running.
	Reload() error
}

// Serve listens on the unix socket path until ctx is done. A stale socket file
// left by a crashed run is replaced.
func Serve(ctx context.Context, path string, h Handler, log *slog.Logger) error {
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		return fmt.Errorf("control socket %s: another ndproxy is running", path)
	}
	os.Remove(path)
	l, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return fmt.Errorf("control socket: %w", err)
	}
	go func() {
		<-ctx.Done()
		l.Close()
		os.Remove(path)
	}()
	for {
		c, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("control socket: %w", err)
		}
		go serveConn(c, h, log)
	}
}

// The protocol is one request line ("status" or "reload") and one JSON reply.
func serveConn(c net.Conn, h Handler, log *slog.Logger) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(io.LimitReader(c, 256)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return
	}
	enc := json.NewEncoder(c)
	switch cmd := strings.TrimSpace(line); cmd {
	case "status":
		enc.Encode(h.Status())
	case "reload":
		reply := map[string]string{"result": "ok"}
		if err := h.Reload(); err != nil {
			reply = map[string]string{"error": err.Error()}
		}
		enc.Encode(reply)
	default:
		log.Debug("bad control request", "request", cmd)
		enc.Encode(map[string]string{"error": fmt.Sprintf("unknown request %q: want status or reload", cmd)})
	}
}

// request sends one request and decodes the reply into v.
func request(path, cmd string, v any) error {
	c, err := net.DialTimeout("unix", path, 2*time.Second)
	if err != nil {
		return fmt.Errorf("is ndproxy running? %w", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintln(c, cmd); err != nil {
		return err
	}
	return json.NewDecoder(c).Decode(v)
}

// GetStatus asks the daemon listening on path for its status.
func GetStatus(path string) (Status, error) {
	var s Status
	err := request(path, "status", &s)
	return s, err
}

// Reload asks the daemon listening on path to reload its configuration.
func Reload(path string) error {
	var reply map[string]string
	if err := request(path, "reload", &reply); err != nil {
		return err
	}
	if e := reply["error"]; e != "" {
		return errors.New(e)
	}
	return nil
}
