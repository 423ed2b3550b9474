#!/bin/sh
# container.sh runs inside the container TestDebInSystemd boots, as the
# oneshot service ndp-test.service, with the package at /ndp-pkg/ndproxy.deb.
# It writes what it does to /ndp-out/log and PASS or FAIL: ... to
# /ndp-out/result, then powers the container off.
set -u
exec >/ndp-out/log 2>&1

step() { echo "== $*"; }

fail() {
	echo "FAIL: $*"
	journalctl -u ndproxy.service --no-pager -o short-monotonic || true
	echo "FAIL: $*" >/ndp-out/result
	systemctl --no-block poweroff
	exit 0
}

# wait_for SECONDS WHAT COMMAND...: run COMMAND every 0.1 s until it succeeds.
wait_for() {
	n=$(($1 * 10))
	what=$2
	shift 2
	while ! "$@" >/dev/null 2>&1; do
		n=$((n - 1))
		[ "$n" -gt 0 ] || fail "$what"
		sleep 0.1
	done
}

dbus() {
	busctl call org.ndproxy.NDProxy1 /org/ndproxy/NDProxy1 org.ndproxy.NDProxy1 "$@"
}

as_nobody() {
	setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"
}

config() {
	cat >/etc/config/ndproxy <<EOF
config proxy 'island'
	option upstream 'wlan0'
	list downstream 'eth0'
	list prefix '2001:db8:1:0:40::/76'
$1
EOF
}

step "the system bus"
systemctl start dbus.service || fail "dbus.service does not start"

step "dpkg -i"
dpkg -i /ndp-pkg/ndproxy.deb || fail "dpkg -i"
systemctl is-enabled ndproxy.service || fail "not enabled by the install"
if [ -x /usr/sbin/policy-rc.d ]; then
	# Images (Docker's and this one) forbid starting services in
	# maintainer scripts; deb-systemd-invoke obeys, and so must we.
	/usr/sbin/policy-rc.d ndproxy start
	if [ $? = 101 ] && systemctl is-active ndproxy.service; then
		fail "started although policy-rc.d forbids it"
	fi
	rm /usr/sbin/policy-rc.d
	step "dpkg -i again, now that services may start: an upgrade"
	dpkg -i /ndp-pkg/ndproxy.deb || fail "dpkg -i again"
fi
systemctl is-active ndproxy.service || fail "not started by the install"
ndproxy status || fail "ndproxy status right after the install"

step "links for a proxy"
# veth pairs: the container cannot load the dummy module.
for dev in wlan0 eth0; do
	ip link add "$dev" type veth peer name "$dev-peer" || fail "$dev"
	ip link set "$dev-peer" up || fail "$dev-peer up"
	ip link set "$dev" up || fail "$dev up"
done
ip -6 addr add 2001:db8:1::2/64 dev wlan0
wait_for 5 "a link-local address on wlan0" sh -c 'ip -6 addr show dev wlan0 scope link | grep -q fe80'

step "configure and reload"
config ""
ndproxy check -v
systemctl reload ndproxy.service || fail "systemctl reload"
wait_for 10 "proxy island running" sh -c 'ndproxy status | grep -q "proxy island" && ! ndproxy status | grep -q waiting'
ndproxy status
systemctl status ndproxy.service --no-pager

step "what the daemon runs with"
pid=$(systemctl show -p MainPID --value ndproxy.service)
grep -E '^(Uid|Cap(Inh|Prm|Eff|Bnd|Amb)):' "/proc/$pid/status"
# CAP_NET_ADMIN is bit 12, CAP_NET_RAW bit 13.
grep -Eq '^CapEff:[[:space:]]+0000000000003000$' "/proc/$pid/status" || fail "the daemon has other capabilities than CAP_NET_ADMIN and CAP_NET_RAW"
grep -Eq '^CapBnd:[[:space:]]+0000000000003000$' "/proc/$pid/status" || fail "the bounding set is not CAP_NET_ADMIN and CAP_NET_RAW"
[ "$(sysctl -n net.ipv6.conf.all.forwarding)" = 1 ] || fail "forwarding is not on"
[ "$(sysctl -n net.ipv6.conf.wlan0.accept_ra)" = 2 ] || fail "accept_ra on wlan0 is not 2"

step "D-Bus"
wait_for 10 "org.ndproxy.NDProxy1 on the bus" busctl status org.ndproxy.NDProxy1
dbus Status | grep -q '"name\\":\\"island' || fail "Status over D-Bus"
as_nobody busctl call org.ndproxy.NDProxy1 /org/ndproxy/NDProxy1 org.ndproxy.NDProxy1 Status | grep -q island || fail "Status as nobody"
if as_nobody busctl call org.ndproxy.NDProxy1 /org/ndproxy/NDProxy1 org.ndproxy.NDProxy1 Reload; then
	fail "nobody may reload"
fi
dbus Reload || fail "Reload as root"

step "a bad file"
config "	option verify 'prob'"
if systemctl reload ndproxy.service; then
	fail "systemctl reload succeeded with a bad file"
fi
journalctl -u ndproxy.service --no-pager | grep -q 'ndproxy.island.verify' || fail "the journal does not name ndproxy.island.verify"
systemctl is-active ndproxy.service || fail "the daemon stopped over a bad file"
dbus-send --system --print-reply --dest=org.ndproxy.NDProxy1 /org/ndproxy/NDProxy1 org.ndproxy.NDProxy1.Reload 2>&1 |
	grep -q 'org.ndproxy.NDProxy1.Error.InvalidConfig' || fail "Reload over D-Bus does not say InvalidConfig"
config ""

step "stop"
systemctl stop ndproxy.service || fail "systemctl stop"
[ "$(sysctl -n net.ipv6.conf.all.forwarding)" = 0 ] || fail "forwarding not restored"
[ "$(sysctl -n net.ipv6.conf.wlan0.accept_ra)" = 1 ] || fail "accept_ra not restored"
journalctl -u ndproxy.service --no-pager | grep -q 'sysctls restored' || fail "no clean stop in the journal"

step "restart after a crash"
# A crash loses what ndproxy would have restored: check only that systemd
# starts it again (Restart=on-failure, RestartSec=5s).
systemctl start ndproxy.service || fail "systemctl start"
pid=$(systemctl show -p MainPID --value ndproxy.service)
kill -KILL "$pid"
wait_for 15 "a new daemon after SIGKILL" sh -c "systemctl is-active ndproxy.service && [ \"\$(systemctl show -p MainPID --value ndproxy.service)\" != $pid ] && ndproxy status"

step "dpkg -r, dpkg -P"
dpkg -r ndproxy || fail "dpkg -r"
[ -e /etc/config/ndproxy ] || fail "dpkg -r removed the configuration"
dpkg -P ndproxy || fail "dpkg -P"
[ ! -e /etc/config/ndproxy ] || fail "dpkg -P left the configuration"

step "the journal"
journalctl -u ndproxy.service --no-pager -o short-monotonic
echo PASS >/ndp-out/result
systemctl --no-block poweroff
