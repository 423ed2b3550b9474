#!/bin/sh
# ipk.sh packs ndproxy and its LuCI app into OpenWrt .ipk packages, for
# OpenWrt 24.10 and older (opkg). The layout is what OpenWrt's
# scripts/ipkg-build writes:
#
#   ndproxy_<version>_<arch>.ipk    gzip'd GNU tar, in this order:
#     ./debian-binary               "2.0"
#     ./data.tar.gz                 the files, relative to /
#     ./control.tar.gz              control, conffiles, maintainer scripts
#
# opkg reads only this gzip'd tar, not the ar archive of a .deb.
#
# usage: packaging/ipk.sh DIST [ARCH...]
#        packaging/ipk.sh --version
#
# Reads DIST/ARCH/ndproxy (as `make cross` leaves it) and the files under
# files/, replaces any DIST/ndproxy_*_ARCH.ipk by
# DIST/ndproxy_<version>_ARCH.ipk; packs luci-app/ into
# DIST/luci-app-ndproxy_<version>_all.ipk (with no ARCH, only that); prints
# the sizes. --version prints the package version only.
#
# Environment:
#   VERSION            `git describe --tags --always --dirty` output (the
#                      Makefile's VERSION); default: run it
#   RELEASE            package release, default 1
#   SOURCE_DATE_EPOCH  mtime of every entry; default: the commit time
#   LICENSE            the License field; omitted when empty
#
# The same inputs give the same bytes: fixed mtimes, owner 0:0, entries
# sorted by name, modes set here, gzip without name or time (-n). Needs GNU
# tar (--sort=name), GNU find and gzip.
set -eu

die() {
	echo "ipk.sh: $*" >&2
	exit 1
}

top=$(cd "$(dirname "$0")/.." && pwd)
umask 022

# opkg_version turns `git describe` output into an opkg version; opkg
# orders versions as dpkg does, so "~" sorts before anything, even the end:
#   v1.2.3                  1.2.3
#   v1.2.3-4-gabc1234       1.2.3.4~abc1234   (4 commits after v1.2.3)
#   v1.2.3-rc1              1.2.3~rc1         (before 1.2.3)
#   abc1234 (no tag)        0.0.0~abc1234
#   ...-dirty               ...+dirty         (uncommitted changes)
# Tags vX.Y.Z and clean snapshots are also valid apk versions (OpenWrt
# 25.12), which take only hex after "~", hence the bare hash; "~rc1" and
# "+dirty" are not.
opkg_version() {
	v=$1
	dirty=
	case $v in *-dirty)
		v=${v%-dirty}
		dirty=+dirty
		;;
	esac
	case $v in
	*-[0-9]*-g[0-9a-f]*) # TAG-N-gHASH
		hash=${v##*-g}
		v=${v%-g*}
		v=${v%-*}.${v##*-}~$hash
		;;
	*[!0-9a-f]*) ;;     # TAG
	*) v=0.0.0~$v ;;    # HASH: no tag yet
	esac
	v=${v#v}
	case $v in [0-9]*) ;; *) v=0.0.0~$v ;; esac
	# "-" separates the release in opkg versions: none may remain.
	printf '%s%s\n' "$(printf '%s' "$v" | tr -c 'A-Za-z0-9.+~' '~')" "$dirty"
}

git_in_top() { git -C "$top" "$@" 2>/dev/null; }

VERSION=${VERSION:-$(git_in_top describe --tags --always --dirty || echo dev)}
version=$(opkg_version "$VERSION")-r${RELEASE:-1}
epoch=${SOURCE_DATE_EPOCH:-$(git_in_top log -1 --format=%ct || echo 0)}

if [ "${1:-}" = --version ]; then
	echo "$version"
	exit 0
fi
[ $# -ge 1 ] || die "usage: packaging/ipk.sh DIST [ARCH...] | --version"
dist=$1
mkdir -p "$dist"
shift

# pack DIR OUT: a tar.gz of DIR's contents, as ipkg-build makes them.
pack() {
	tar -C "$1" --format=gnu --sort=name --mtime="@$epoch" \
		--owner=0 --group=0 --numeric-owner -cf - . | gzip -9n >"$2"
}

# pack_ipk OUT IPK: the package from OUT/data.tar.gz and
# OUT/control.tar.gz.
pack_ipk() {
	echo 2.0 >"$1/debian-binary"
	chmod 0644 "$1/debian-binary" "$1/data.tar.gz" "$1/control.tar.gz"
	# Named members keep this order; --sort only orders directory contents.
	tar -C "$1" --format=gnu --mtime="@$epoch" --owner=0 --group=0 \
		--numeric-owner -cf - ./debian-binary ./data.tar.gz ./control.tar.gz |
		gzip -9n >"$2.tmp"
	mv "$2.tmp" "$2"
}

# control ARCH INSTALLED_SIZE: the control file. Description lines after
# the first start with a space.
control() {
	echo "Package: ndproxy"
	echo "Version: $version"
	echo "Source: https://github.com/ndproxy/ndproxy"
	echo "SourceName: ndproxy"
	[ -z "${LICENSE:-}" ] || echo "License: $LICENSE"
	echo "Section: net"
	echo "URL: https://github.com/ndproxy/ndproxy"
	echo "Architecture: $1"
	echo "Installed-Size: $2"
	echo "Description:  IPv6 NDP proxy: answers Neighbor Solicitations on one link"
	echo " for hosts on another, so that hosts one hop behind the router can use"
	echo " addresses from the upstream's /64."
}

# luci_control INSTALLED_SIZE: the LuCI app's control file, with the
# fields OpenWrt's luci.mk gives a luci-app (Section luci, Architecture
# all). openwrt/luci-app-ndproxy/Makefile has LUCI_DEPENDS:=+luci-base
# +ndproxy; the buildroot drops the "+" and joins them with ", " (and adds
# libc, which every package there gets; this package has no binary).
luci_control() {
	echo "Package: luci-app-ndproxy"
	echo "Version: $version"
	echo "Depends: luci-base, ndproxy"
	echo "Source: https://github.com/ndproxy/ndproxy"
	echo "SourceName: luci-app-ndproxy"
	[ -z "${LICENSE:-}" ] || echo "License: $LICENSE"
	echo "Section: luci"
	echo "URL: https://github.com/ndproxy/ndproxy"
	echo "Architecture: all"
	echo "Installed-Size: $1"
	echo "Description:  LuCI support for ndproxy, the IPv6 NDP proxy: a settings form"
	echo " and a live status page under Services > NDP Proxy."
}

# The maintainer scripts are those OpenWrt generates for every package
# (include/package-pack.mk). default_postinst in /lib/functions.sh enables
# and starts /etc/init.d/ndproxy on a running system; when IPKG_INSTROOT
# is set (an image being built) it only enables it. default_prerm stops
# and disables it.
postinst() {
	cat <<'EOF'
#!/bin/sh
[ "${IPKG_NO_SCRIPT}" = "1" ] && exit 0
[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0
. ${IPKG_INSTROOT}/lib/functions.sh
default_postinst $0 $@
EOF
}

prerm() {
	cat <<'EOF'
#!/bin/sh
[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0
. ${IPKG_INSTROOT}/lib/functions.sh
default_prerm $0 $@
EOF
}

# luci_refresh is what the LuCI app does after it is installed or removed:
# OpenWrt's luci.mk gives every luci-app a postinst like it. On a running
# system (no IPKG_INSTROOT) it removes LuCI's caches, so that the menu is
# built again from /usr/share/luci/menu.d (/tmp/luci-indexcache and
# /tmp/luci-modulecache/: the Lua dispatcher's;
# /tmp/luci-indexcache.<hash>.json: the ucode one's, OpenWrt 23.05 and
# later), and reloads rpcd, which re-executes itself on SIGHUP and reads
# /usr/share/rpcd/acl.d again; sessions survive, with their grants worked
# out anew. In an image being built it does nothing: there is no cache
# there, and rpcd starts later.
luci_refresh() {
	cat <<'EOF'
#!/bin/sh
[ -n "${IPKG_INSTROOT}" ] || {
	rm -f /tmp/luci-indexcache*
	rm -rf /tmp/luci-modulecache/
	[ ! -x /etc/init.d/rpcd ] || /etc/init.d/rpcd reload
	exit 0
}
EOF
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

printf '%-26s %12s %12s\n' arch binary ipk
limit=2097152
for arch in "$@"; do
	bin=$dist/$arch/ndproxy
	[ -f "$bin" ] || die "$bin is missing (make cross builds it)"
	w=$work/$arch
	data=$w/data
	ctl=$w/control
	out=$w/out
	mkdir -p "$data/usr/sbin" "$data/etc/init.d" "$data/etc/config" \
		"$data/etc/iproute2/rt_protos.d" "$ctl" "$out"

	# Modes as OpenWrt's INSTALL_BIN, INSTALL_CONF and INSTALL_DATA.
	install -m 0755 "$bin" "$data/usr/sbin/ndproxy"
	install -m 0755 "$top/files/etc/init.d/ndproxy" "$data/etc/init.d/ndproxy"
	install -m 0600 "$top/files/etc/config/ndproxy" "$data/etc/config/ndproxy"
	install -m 0644 "$top/files/etc/iproute2/rt_protos.d/ndproxy.conf" \
		"$data/etc/iproute2/rt_protos.d/ndproxy.conf"
	find "$data" -type d -exec chmod 0755 {} +
	pack "$data" "$out/data.tar.gz"

	# Installed-Size: the unpacked data tar, as ipkg-build counts it.
	size=$(gzip -dc "$out/data.tar.gz" | wc -c)
	control "$arch" "$size" >"$ctl/control"
	echo /etc/config/ndproxy >"$ctl/conffiles"
	postinst >"$ctl/postinst"
	prerm >"$ctl/prerm"
	chmod 0644 "$ctl/control" "$ctl/conffiles"
	chmod 0755 "$ctl" "$ctl/postinst" "$ctl/prerm"
	pack "$ctl" "$out/control.tar.gz"

	rm -f "$dist"/ndproxy_*_"$arch".ipk
	ipk=$dist/ndproxy_${version}_$arch.ipk
	pack_ipk "$out" "$ipk"

	ipk_size=$(wc -c <"$ipk")
	note=
	[ "$ipk_size" -le $limit ] || note="  over 2 MiB by $((ipk_size - limit)) bytes"
	printf '%-26s %12s %12s%s\n' "$arch" "$(wc -c <"$bin")" "$ipk_size" "$note"
done

# The LuCI app, as luci.mk installs it: luci-app/htdocs/* under /www/ and
# luci-app/root/* under /. Like OpenWrt's package build this leaves out
# dot files and editor backups (*~); files keep their executable bit (0755
# or 0644). Translations are not packed: luci.mk makes a separate
# luci-i18n-ndproxy-<lang> package of each po/<lang>/ndproxy.po, compiled
# with LuCI's po2lmo, and po/templates/ndproxy.pot alone installs nothing.
luci=$top/luci-app
w=$work/luci-app-ndproxy
data=$w/data
ctl=$w/control
out=$w/out
mkdir -p "$data/www" "$ctl" "$out"
for d in htdocs root; do
	[ -d "$luci/$d" ] || die "$luci/$d is missing"
done
cp -R "$luci/htdocs/." "$data/www/"
cp -R "$luci/root/." "$data/"
find "$data" -mindepth 1 \( -name '.*' -o -name '*~' \) -prune -exec rm -rf {} +
odd=$(find "$data" ! -type f ! -type d)
[ -z "$odd" ] || die "luci-app/ has entries that are neither files nor directories: $odd"
find "$data" -type d -exec chmod 0755 {} +
find "$data" -type f -perm /111 -exec chmod 0755 {} +
find "$data" -type f ! -perm /111 -exec chmod 0644 {} +
pack "$data" "$out/data.tar.gz"
for po in "$luci"/po/*/; do
	case $po in */templates/) continue ;; esac
	[ -d "$po" ] || continue
	echo "ipk.sh: ${po#"$top"/} is not packed: its luci-i18n package needs po2lmo (build it with openwrt/luci-app-ndproxy in an SDK)" >&2
done

size=$(gzip -dc "$out/data.tar.gz" | wc -c)
luci_control "$size" >"$ctl/control"
# As OpenWrt builds a luci-app: its own script is postinst-pkg, which
# default_postinst (/lib/functions.sh) runs after its own work. luci.mk
# gives no postrm; this one does the same after removal, so that LuCI
# drops the menu entry and rpcd the grants.
postinst >"$ctl/postinst"
luci_refresh >"$ctl/postinst-pkg"
prerm >"$ctl/prerm"
luci_refresh >"$ctl/postrm"
chmod 0644 "$ctl/control"
chmod 0755 "$ctl" "$ctl/postinst" "$ctl/postinst-pkg" "$ctl/prerm" "$ctl/postrm"
pack "$ctl" "$out/control.tar.gz"

rm -f "$dist"/luci-app-ndproxy_*_all.ipk
ipk=$dist/luci-app-ndproxy_${version}_all.ipk
pack_ipk "$out" "$ipk"
printf '%-26s %12s %12s\n' "all (luci-app-ndproxy)" - "$(wc -c <"$ipk")"

echo "version $version, written to $dist/"
