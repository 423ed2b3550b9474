// Package deb holds no code: its tests check the plain Linux packaging,
// that is the .deb files deb.sh writes, `make install` (install.sh), the
// maintainer scripts, and the systemd unit, on a real systemd with a real
// D-Bus in a container where systemd-nspawn is installed.
package deb
