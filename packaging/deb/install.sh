#!/bin/sh
# install.sh puts ndproxy's plain Linux service in place: what `make install`
# installs and what the .deb holds (deb.sh calls it with DESTDIR set).
#
# usage: packaging/deb/install.sh BINARY
#
#   $PREFIX/sbin/ndproxy                       the binary
#   $UNITDIR/ndproxy.service                   the systemd unit
#   .../dbus-1/system.d/org.ndproxy.NDProxy1.conf   the bus policy
#   /etc/config/ndproxy                        the configuration, kept if
#                                              it exists
#   /etc/iproute2/rt_protos.d/ndproxy.conf     `ip route` says "proto ndproxy"
#   $PREFIX/share/doc/ndproxy/                 README and docs (DOCS=1)
#
# Environment:
#   DESTDIR  a staging root, default none
#   PREFIX   default /usr
#   UNITDIR  default /lib/systemd/system for PREFIX /usr (Debian 12's
#            place), $PREFIX/lib/systemd/system otherwise
#   DOCS     1 to install the documentation, default 0
#
# dbus-daemon reads policies from /usr/share/dbus-1/system.d and
# /etc/dbus-1/system.d only, so a PREFIX other than /usr puts the policy in
# the latter.
set -eu

die() {
	echo "install.sh: $*" >&2
	exit 1
}

[ $# -eq 1 ] || die "usage: packaging/deb/install.sh BINARY"
bin=$1
[ -f "$bin" ] || die "$bin is missing (make build makes it)"
top=$(cd "$(dirname "$0")/../.." && pwd)
root=${DESTDIR:-}
prefix=${PREFIX:-/usr}
if [ "$prefix" = /usr ]; then
	unitdir=${UNITDIR:-/lib/systemd/system}
	policydir=/usr/share/dbus-1/system.d
else
	unitdir=${UNITDIR:-$prefix/lib/systemd/system}
	policydir=/etc/dbus-1/system.d
fi

install -D -m 0755 "$bin" "$root$prefix/sbin/ndproxy"
unit=$root$unitdir/ndproxy.service
mkdir -p "$(dirname "$unit")"
sed "s|/usr/sbin/ndproxy|$prefix/sbin/ndproxy|g" "$top/files/systemd/ndproxy.service" >"$unit"
chmod 0644 "$unit"
install -D -m 0644 "$top/files/dbus/org.ndproxy.NDProxy1.conf" "$root$policydir/org.ndproxy.NDProxy1.conf"
install -D -m 0644 "$top/files/etc/iproute2/rt_protos.d/ndproxy.conf" "$root/etc/iproute2/rt_protos.d/ndproxy.conf"
if [ -e "$root/etc/config/ndproxy" ]; then
	echo "install.sh: keeping $root/etc/config/ndproxy"
else
	install -D -m 0644 "$top/packaging/deb/ndproxy.conf" "$root/etc/config/ndproxy"
fi
if [ "${DOCS:-0}" = 1 ]; then
	doc=$root$prefix/share/doc/ndproxy
	install -D -m 0644 "$top/README.md" "$doc/README.md"
	for f in linux.md config.md status.md; do
		install -m 0644 "$top/docs/$f" "$doc/$f"
	done
fi
