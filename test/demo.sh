#!/usr/bin/env bash
# make demo: the Wi-Fi island of SCENARIOS.md S1 in throwaway network
# namespaces, with ndproxy on the gateway. Everything is removed on exit.
#
#  isp (radvd: 2001:db8:abc:123::/64) ── home LAN ── laptop (SLAAC)
#                                           │
#                                     wlan0 │ gw: ndproxy
#                                     eth0  │
#                                           │
#                               island LAN ── pi41, pi42: 2001:db8:abc:123:4X::1/80
set -euo pipefail

bin=${1:?usage: demo.sh path/to/ndproxy}
bin=$(realpath "$bin")
[ "$(id -u)" -eq 0 ] || { echo "demo: needs root (network namespaces)" >&2; exit 1; }

id="nd$$"
ns() { echo "${id}-$1"; }
hosts=(isp laptop gw pi41 pi42 home island)
work=$(mktemp -d)
ndproxy_pid=""

cleanup() {
	[ -n "$ndproxy_pid" ] && kill "$ndproxy_pid" 2>/dev/null && wait "$ndproxy_pid" 2>/dev/null
	for h in "${hosts[@]}"; do
		ip netns pids "$(ns "$h")" 2>/dev/null | xargs -r kill 2>/dev/null || true
		ip netns del "$(ns "$h")" 2>/dev/null || true
	done
	rm -rf "$work"
}
trap cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
on() { local h=$1; shift; ip netns exec "$(ns "$h")" "$@"; }

say "building the island: isp, laptop and gw on the home LAN; pi41 and pi42 behind gw"
for h in "${hosts[@]}"; do
	ip netns add "$(ns "$h")"
	on "$h" ip link set lo up
done
for sw in home island; do
	on "$sw" ip link add br0 type bridge mcast_snooping 0
	on "$sw" ip link set br0 up
done
# plug HOST IFNAME SWITCH: a veth from HOST (named IFNAME there) to SWITCH's br0.
n=0
plug() {
	n=$((n + 1))
	ip link add "${id}a$n" type veth peer name "${id}b$n"
	ip link set "${id}a$n" netns "$(ns "$1")"
	on "$1" ip link set "${id}a$n" name "$2"
	ip link set "${id}b$n" netns "$(ns "$3")"
	on "$3" ip link set "${id}b$n" master br0 up
}
plug isp eth0 home
plug laptop eth0 home
plug gw wlan0 home
plug gw eth0 island
plug pi41 eth0 island
plug pi42 eth0 island
for h in isp laptop gw pi41 pi42; do
	for i in $(on "$h" ls /sys/class/net); do [ "$i" = lo ] || on "$h" ip link set "$i" up; done
done

# The ISP router: announces the home /64, and stands in for the internet.
on isp sysctl -qw net.ipv6.conf.all.forwarding=1
on isp ip addr add 2001:db8:abc:123::1/64 dev eth0
on isp ip addr add 2001:db8:ffff::1/128 dev lo
cat >"$work/radvd.conf" <<EOF
interface eth0 {
	AdvSendAdvert on;
	MinRtrAdvInterval 3;
	MaxRtrAdvInterval 4;
	prefix 2001:db8:abc:123::/64 { AdvOnLink on; AdvAutonomous on; };
	route 2001:db8:ffff::/48 {};
};
EOF
on isp radvd -n -C "$work/radvd.conf" -p "$work/radvd.pid" -m stderr_syslog >"$work/radvd.log" 2>&1 &

# The island: static addresses from a /80 of the ISP's /64, default via gw.
on gw ip addr add fd2f::1/64 dev eth0
i=0
for pi in pi41 pi42; do
	i=$((i + 1))
	on "$pi" ip addr add "2001:db8:abc:123:4$i::1/80" dev eth0 noprefixroute
done

wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
	local t=$1 what=$2; shift 2
	for _ in $(seq $((t * 10))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
	echo "demo: timed out waiting for $what" >&2; return 1
}
wait_for 20 "SLAAC on the laptop" sh -c "ip netns exec $(ns laptop) ip -6 addr show dev eth0 scope global | grep -q 2001:db8:abc:123:"
wait_for 20 "SLAAC on gw" sh -c "ip netns exec $(ns gw) ip -6 addr show dev wlan0 scope global | grep -q 2001:db8:abc:123:"
gwll=$(on gw ip -6 addr show dev eth0 scope link | awk '/inet6/ { sub("/.*", "", $2); print $2 }')
for pi in pi41 pi42; do on "$pi" ip -6 route add default via "$gwll" dev eth0; done

say "before ndproxy: the laptop cannot reach pi41"
if on laptop ping -6 -c 1 -W 1 2001:db8:abc:123:41::1 >/dev/null 2>&1; then
	echo "unexpected: pi41 answered without ndproxy" >&2; exit 1
fi
echo "ping 2001:db8:abc:123:41::1: no answer (nobody answers neighbour discovery for it on the home LAN)"

say "the configuration: /etc/config/ndproxy on gw"
cat >"$work/ndproxy" <<EOF
config global
	option socket '$work/ndproxy.sock'

config proxy 'island'
	option upstream 'wlan0'
	list downstream 'eth0'
	list prefix '2001:db8:abc:123:40::/76'
	option verify 'probe'
EOF
cat "$work/ndproxy"
on gw "$bin" check -c "$work/ndproxy"

say "starting ndproxy on gw (its log follows, indented)"
ip netns exec "$(ns gw)" "$bin" run -c "$work/ndproxy" > >(sed 's/^/    ndproxy| /') 2>&1 &
ndproxy_pid=$!
wait_for 10 "ndproxy's control socket" test -S "$work/ndproxy.sock"

say "the laptop pings pi41 by its global address"
wait_for 10 "pi41 to answer" on laptop ping -6 -c 1 -W 1 2001:db8:abc:123:41::1
on laptop ping -6 -c 3 -i 0.2 2001:db8:abc:123:41::1

say "the laptop opens a TCP connection to pi41 (port 22 stands in for ssh)"
on pi41 sh -c 'echo "SSH-2.0-pi41 says hello" | nc -6 -l -N -p 22' &
wait_for 5 "pi41 to listen" sh -c "ip netns exec $(ns pi41) ss -ltn | grep -q ':22 '"
on laptop nc -6 -w 3 2001:db8:abc:123:41::1 22 </dev/null

say "pi42 reaches the internet through the ISP router"
on pi42 ping -6 -c 2 -i 0.2 2001:db8:ffff::1

say "what ndproxy reports (ndproxy status)"
on gw "$bin" status -s "$work/ndproxy.sock"

say "gw still has its default route from the ISP's router advertisements"
on gw ip -6 route show default

say "stopping ndproxy: it removes its routes and restores the sysctls"
kill "$ndproxy_pid"; wait "$ndproxy_pid" || true; ndproxy_pid=""
echo "routes left by ndproxy: $(on gw ip -6 route show proto 78 | wc -l)"
echo "net.ipv6.conf.all.forwarding on gw: $(on gw sysctl -n net.ipv6.conf.all.forwarding)"
say "done; tearing the lab down"
