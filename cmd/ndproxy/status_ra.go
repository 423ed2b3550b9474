package main

import (
	"fmt"
	"io"

	"github.com/ndproxy/ndproxy/internal/ra"
)

// printRelay prints a proxy section's RA relay for `ndproxy status`.
func printRelay(out io.Writer, r *ra.Status) {
	state := r.State
	if r.HeldDownSeconds > 0 {
		state += fmt.Sprintf(" for %.0fs more (a loop was seen)", r.HeldDownSeconds)
	}
	fmt.Fprintf(out, "  RA relay: %s\n", state)
	for _, rt := range r.Routers {
		fmt.Fprintf(out, "    from %s: last RA %.1fs ago, router lifetime %ds left\n", rt.Source, rt.LastRASeconds, rt.RouterLifetime)
	}
	for _, l := range r.Links {
		line := fmt.Sprintf("    to %s: %d sent", l.Interface, l.Sent)
		if l.HeldDownSeconds > 0 {
			line += fmt.Sprintf(", held down for %.0fs more (an RA from someone else there)", l.HeldDownSeconds)
		}
		fmt.Fprintln(out, line)
	}
	c := r.Counters
	fmt.Fprintf(out, "    RAs received %d, relayed %d; solicitations heard %d, sent upstream %d; loops %d\n",
		c.Received, c.Relayed, c.Solicitations, c.SolicitsForwarded, c.Loops)
	if len(c.Dropped) > 0 {
		fmt.Fprintf(out, "    dropped: %v\n", c.Dropped)
	}
}

// printAdvertiser prints a wireguard section's RA advertiser.
func printAdvertiser(out io.Writer, r *ra.Status) {
	fmt.Fprintf(out, "  RA advertiser: %s %s\n", r.State, orNone(r.Advertised))
	if len(r.Withdrawn) > 0 {
		fmt.Fprintf(out, "    telling hosts to stop using %s\n", orNone(r.Withdrawn))
	}
	for _, l := range r.Links {
		fmt.Fprintf(out, "    to %s: %d sent\n", l.Interface, l.Sent)
	}
	c := r.Counters
	fmt.Fprintf(out, "    solicitations heard %d, RAs from other routers %d\n", c.Solicitations, c.Received)
	if len(c.Dropped) > 0 {
		fmt.Fprintf(out, "    dropped: %v\n", c.Dropped)
	}
}
