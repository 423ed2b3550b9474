package netns

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// TCP probes run the test binary itself inside a namespace: re-executed with
// helperEnv set, it acts as an echo server or as a client instead of running
// tests. The check lives in init so that no test binary importing this package
// can forget it and recurse into running its tests inside a namespace.
const (
	helperEnv     = "NDPROXY_NETNS_HELPER" // "echo" or "dial"
	helperArgsEnv = "NDPROXY_NETNS_HELPER_ARGS"
)

// TCPTimeout bounds one TCP probe: connect, send a line, read the echo.
const TCPTimeout = 2 * time.Second

func init() {
	mode := os.Getenv(helperEnv)
	if mode == "" {
		return
	}
	args := strings.Fields(os.Getenv(helperArgsEnv))
	var err error
	switch {
	case mode == "echo" && len(args) == 2:
		err = serveEcho(args[0], args[1])
	case mode == "dial" && len(args) == 1:
		err = dialEcho(args[0])
	default:
		err = fmt.Errorf("bad helper invocation %q %q", mode, args)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "netns helper:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// serveEcho answers every line with "<name> <line>" on each connection.
func serveEcho(addr, name string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Printf("echo %s listening on %s\n", name, ln.Addr())
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer c.Close()
			fmt.Printf("connection from %s\n", c.RemoteAddr())
			_ = c.SetDeadline(time.Now().Add(TCPTimeout))
			s := bufio.NewScanner(c)
			for s.Scan() {
				if _, err := fmt.Fprintf(c, "%s %s\n", name, s.Text()); err != nil {
					return
				}
			}
		}()
	}
}

// dialEcho sends one random line to an echo server and prints the name of
// the host that echoed it.
func dialEcho(addr string) error {
	c, err := net.DialTimeout("tcp", addr, TCPTimeout)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(TCPTimeout))
	buf := make([]byte, 8)
	_, _ = rand.Read(buf)
	token := hex.EncodeToString(buf)
	if _, err := fmt.Fprintf(c, "%s\n", token); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return fmt.Errorf("read echo: %w", err)
	}
	name, got, _ := strings.Cut(strings.TrimSpace(line), " ")
	if got != token {
		return fmt.Errorf("echo %q, want %q", line, token)
	}
	fmt.Println(name)
	return nil
}

// ServeTCP starts a TCP echo server in the host listening on every address on
// port, and waits until it accepts connections (from the host itself).
func (h *Host) ServeTCP(port int) *Proc {
	h.lab.t.Helper()
	exe, err := os.Executable()
	if err != nil {
		h.lab.t.Fatalf("netns: %v", err)
	}
	p := h.StartEnv("echo"+strconv.Itoa(port),
		[]string{helperEnv + "=echo", helperArgsEnv + "=" + net.JoinHostPort("::", strconv.Itoa(port)) + " " + h.Name},
		exe)
	err = Poll(5*time.Second, func() error {
		if p.Exited() {
			return fmt.Errorf("echo server exited: %s", p.Log())
		}
		_, err := h.TCP(netip.IPv6Loopback(), port)
		return err
	})
	if err != nil {
		h.lab.t.Fatalf("netns: echo server on %s: %v", h.Name, err)
	}
	return p
}

// TCP connects from the host to an echo server (ServeTCP) at addr and port,
// exchanges a line, and returns the name of the host that answered.
func (h *Host) TCP(addr netip.Addr, port int) (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*TCPTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", h.NS, exe)
	cmd.Env = append(os.Environ(),
		helperEnv+"=dial",
		helperArgsEnv+"="+net.JoinHostPort(addr.String(), strconv.Itoa(port)))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("on %s: tcp to [%v]:%d: %w: %s", h.Name, addr, port, err, strings.TrimSpace(string(out)))
	}
	return strings.TrimSpace(string(out)), nil
}
