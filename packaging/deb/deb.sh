#!/bin/sh
# deb.sh packs ndproxy into Debian packages for Debian and Raspberry Pi OS,
# with dpkg-deb: the same files `make install` installs (install.sh), the
# configuration and rt_protos.d file as conffiles, and maintainer scripts
# that enable and start the service the way Debian's own packages do.
#
# usage: packaging/deb/deb.sh DIST DEBARCH...
#        packaging/deb/deb.sh --version
#
# Reads DIST/deb/DEBARCH/ndproxy (the Makefile's `deb` target builds it),
# replaces any DIST/ndproxy_*_DEBARCH.deb by DIST/ndproxy_<version>_DEBARCH.deb
# and prints the sizes. --version prints the package version only.
#
# Environment:
#   VERSION            `git describe --tags --always --dirty` output; default:
#                      run it
#   SOURCE_DATE_EPOCH  mtime of every file; default: the commit time
#   MAINTAINER         the Maintainer field; default: the last commit's author
#
# The same inputs give the same bytes: fixed mtimes, owner root:root, xz
# without a time stamp (dpkg-deb follows SOURCE_DATE_EPOCH).
set -eu

die() {
	echo "deb.sh: $*" >&2
	exit 1
}

top=$(cd "$(dirname "$0")/../.." && pwd)
umask 022

git_in_top() { git -C "$top" "$@" 2>/dev/null; }

# The upstream version is the one the .ipk has (packaging/ipk.sh explains
# how it follows `git describe`); the Debian revision is 1.
ipk_version=$(VERSION=${VERSION:-} "$top/packaging/ipk.sh" --version)
version=${ipk_version%-r*}-1
epoch=${SOURCE_DATE_EPOCH:-$(git_in_top log -1 --format=%ct || echo 0)}
maintainer=${MAINTAINER:-$(git_in_top log -1 --format='%an <%ae>' || echo 'ndproxy <ndproxy@localhost>')}
export SOURCE_DATE_EPOCH="$epoch"

if [ "${1:-}" = --version ]; then
	echo "$version"
	exit 0
fi
[ $# -ge 2 ] || die "usage: packaging/deb/deb.sh DIST DEBARCH... | --version"
command -v dpkg-deb >/dev/null || die "dpkg-deb is missing (apt-get install dpkg)"
dist=$1
shift

# control ARCH INSTALLED_SIZE
control() {
	cat <<EOF
Package: ndproxy
Version: $version
Architecture: $1
Maintainer: $maintainer
Installed-Size: $2
Section: net
Priority: optional
Homepage: https://github.com/ndproxy/ndproxy
Description: IPv6 NDP proxy for hosts one hop behind a router
 ndproxy answers IPv6 Neighbor Solicitations on one link for hosts that
 live on another, so that hosts behind a router (a Wi-Fi island behind a
 Raspberry Pi, guests on a bridge, peers at the end of a tunnel) can use
 addresses from the upstream's /64. It verifies that each host exists
 before it answers, installs and owns the routes, keeps the sysctls right,
 and undoes everything when it stops.
 .
 The command "ndproxy check" tells what on the host will break it, and how
 to fix it.
EOF
}

copyright() {
	year=$(date -u -d "@$epoch" +%Y)
	cat <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: ndproxy
Source: https://github.com/ndproxy/ndproxy

Files: *
Copyright: $year the ndproxy authors
License: see-upstream
 The license is stated in the upstream repository.
EOF
}

changelog() {
	cat <<EOF
ndproxy ($version) unstable; urgency=medium

  * Built from the ndproxy source tree, version ${version%-1}.

 -- $maintainer  $(date -u -R -d "@$epoch")
EOF
}

# lintian tags that do not apply to a package built outside Debian, or
# describe what ndproxy is on purpose.
overrides() {
	cat <<'EOF'
# A static Go binary (CGO_ENABLED=0): the same file runs on every Debian and
# Raspberry Pi OS release, and on OpenWrt.
ndproxy: statically-linked-binary [usr/sbin/ndproxy]
# Not uploaded to Debian: there is no ITP bug to close.
ndproxy: initial-upload-closes-no-bugs [usr/share/doc/ndproxy/changelog.Debian.gz:1]
# `ndproxy help` and /usr/share/doc/ndproxy are the documentation.
ndproxy: no-manual-page [usr/sbin/ndproxy]
EOF
}

# installed_size DIR: KiB as dpkg-gencontrol counts them, each file rounded up.
installed_size() {
	find "$1" -type f -printf '%s\n' | awk '{ kib += int(($1 + 1023) / 1024) } END { print kib + 0 }'
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

printf '%-8s %12s %12s\n' arch binary deb
for arch in "$@"; do
	bin=$dist/deb/$arch/ndproxy
	[ -f "$bin" ] || die "$bin is missing (make deb builds it)"
	pkg=$work/$arch
	mkdir -p "$pkg/DEBIAN"
	DESTDIR=$pkg PREFIX=/usr DOCS=1 "$top/packaging/deb/install.sh" "$bin" >/dev/null
	doc=$pkg/usr/share/doc/ndproxy
	copyright >"$doc/copyright"
	changelog | gzip -9n >"$doc/changelog.Debian.gz"
	mkdir -p "$pkg/usr/share/lintian/overrides"
	overrides >"$pkg/usr/share/lintian/overrides/ndproxy"
	chmod 0644 "$doc/copyright" "$doc/changelog.Debian.gz" "$pkg/usr/share/lintian/overrides/ndproxy"

	(cd "$pkg" && find . -path ./DEBIAN -prune -o -type f -path './etc/*' -print | sed 's|^\.||' | sort) >"$pkg/DEBIAN/conffiles"
	(cd "$pkg" && find . -path ./DEBIAN -prune -o -path ./etc -prune -o -type f -print | sed 's|^\./||' | sort | xargs md5sum) >"$pkg/DEBIAN/md5sums"
	control "$arch" "$(installed_size "$pkg")" >"$pkg/DEBIAN/control"
	for s in postinst prerm postrm; do
		install -m 0755 "$top/packaging/deb/$s" "$pkg/DEBIAN/$s"
	done
	chmod 0644 "$pkg/DEBIAN/control" "$pkg/DEBIAN/conffiles" "$pkg/DEBIAN/md5sums"
	find "$pkg" -type d -exec chmod 0755 {} +
	find "$pkg" -exec touch -h -d "@$epoch" {} +

	rm -f "$dist"/ndproxy_*_"$arch".deb
	deb=$dist/ndproxy_${version}_$arch.deb
	dpkg-deb --root-owner-group -Zxz --build "$pkg" "$deb.tmp" >/dev/null
	mv "$deb.tmp" "$deb"
	printf '%-8s %12s %12s\n' "$arch" "$(wc -c <"$bin")" "$(wc -c <"$deb")"
done
echo "version $version, written to $dist/"
