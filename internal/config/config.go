// Package config reads /etc/config/ndproxy (UCI) into a validated, immutable Config.
package config

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"time"
)

// DefaultPath is where OpenWrt keeps the file; plain Linux uses the same path.
const DefaultPath = "/etc/config/ndproxy"

// DefaultSocket is the control socket when the global section does not name one.
const DefaultSocket = "/var/run/ndproxy.sock"

// Verify says how a proxy section decides that a target really lives downstream
// before it answers for it.
type Verify string

const (
	// VerifyProbe sends a Neighbor Solicitation on the downstream link(s) and
	// answers only after the target replies (ndppd "iface").
	VerifyProbe Verify = "probe"
	// VerifyAuto asks the routing table where the target is; a route through a
	// gateway or a point-to-point device is enough, an on-link route is probed
	// (ndppd "auto").
	VerifyAuto Verify = "auto"
	// VerifyStatic answers for every address in the prefixes (ndppd "static").
	VerifyStatic Verify = "static"
)

// RouteMode says which routes ndproxy installs for a proxy section.
type RouteMode string

const (
	// RouteHost installs one /128 per verified target towards the downstream
	// link it was found on. Host routes outrank the upstream's on-link /64.
	RouteHost RouteMode = "host"
	// RoutePrefix installs each configured prefix towards the single downstream
	// with RouteMetric, which must beat the upstream's on-link route.
	RoutePrefix RouteMode = "prefix"
	// RouteNone leaves routing to someone else (bird, netifd, the admin).
	RouteNone RouteMode = "none"
)

// Config is the whole validated file. It is never modified after Load returns.
type Config struct {
	Global  Global
	Proxies []Proxy
	// Reflectors are the enabled "mdns" sections.
	Reflectors []Reflector
	// WireGuard are the enabled "wireguard" sections.
	WireGuard []WireGuard
}

// Global is the single "global" section; every field has a default.
type Global struct {
	// LogLevel is one of debug, info, warn, error.
	LogLevel string
	// Socket is the path of the local control socket (status).
	Socket string
}

// Proxy is one "proxy" section: answer on Upstream for targets inside Prefixes
// that live behind Downstream.
type Proxy struct {
	// Name is the UCI section name, or "@proxy[N]" for an anonymous section
	// (the N-th proxy section of the file, counting from 0, as uci(1) shows
	// it); it names the section in logs and errors.
	Name string
	// Upstream and Downstream name devices, or on OpenWrt logical
	// interfaces (wan6, lan), which are mapped to their devices as netifd
	// reports them.
	Upstream string
	// Downstream lists the interfaces behind which targets live; empty only for
	// VerifyStatic and VerifyAuto.
	Downstream []string
	Prefixes   []netip.Prefix
	// PrefixFrom names interfaces whose prefixes are proxied too, followed as
	// they change: their on-link prefixes, and delegated prefixes of /64 or
	// longer. On OpenWrt these are logical interfaces (netifd); elsewhere, or
	// when netifd does not know the name, devices.
	PrefixFrom []string
	Verify     Verify
	Route      RouteMode
	// RouteMetric is the metric of the routes ndproxy installs, 1 to
	// math.MaxInt32: the kernel takes a u32, but int must hold it on 32-bit
	// routers too.
	RouteMetric int
	// Router and Override are the R and O flags of the Neighbor Advertisements
	// ndproxy sends.
	Router   bool
	Override bool
	// ValidTTL is how long a verified target is answered for before it is
	// verified again; InvalidTTL how long a target that failed verification is
	// not probed again.
	ValidTTL   time.Duration
	InvalidTTL time.Duration
	// ProbeTimeout is how long to wait for each probe's answer, ProbeRetries how
	// many probes are sent before a target is declared absent.
	ProbeTimeout time.Duration
	ProbeRetries int

	// RARelay relays the upstream's Router Advertisements to the downstream
	// links, re-originated from ndproxy's link-local address with the RFC
	// 4389 Proxy flag, so that downstream hosts autoconfigure from the
	// upstream's prefixes.
	RARelay bool
	// RAOnLink keeps the on-link (L) flags of the relayed prefixes; by
	// default they are cleared, as odhcpd does, so that downstream hosts
	// send everything through this router.
	RAOnLink bool
	// RADNS replaces the recursive DNS servers of the relayed RAs; without
	// it global servers pass and link-local ones are dropped.
	RADNS []netip.Addr
	// RAInterval is the longest time between unsolicited relayed RAs.
	RAInterval time.Duration
	// RAHoldDown is how long relaying stops after a loop is seen: a
	// proxied RA (P flag) upstream or any RA on a downstream link.
	RAHoldDown time.Duration
}

// An Error is one problem in a config file. Path names the place the way uci(1)
// does: "ndproxy.island.verify" for an option, "ndproxy.@proxy[1]" for a
// section, "ndproxy" for a syntax error.
type Error struct {
	Path string
	Msg  string
}

func (e *Error) Error() string { return e.Path + ": " + e.Msg }

// Load reads and validates the UCI file at path. The file's base name is the
// UCI package name used in error paths ("ndproxy" for /etc/config/ndproxy).
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(filepath.Base(path), data)
}

// Parse validates data, the contents of the UCI file of package name. It
// reports every problem in the file, each an *Error, joined with errors.Join;
// a syntax error stops it at the first. Any other error is from the system.
func Parse(name string, data []byte) (*Config, error) {
	sections, err := readUCI(name, data)
	if err != nil {
		return nil, err
	}
	return validate(name, sections)
}
