// Package packaging holds no code: its tests check the OpenWrt packaging,
// that is the .ipk files packaging/ipk.sh writes and the procd init script
// files/etc/init.d/ndproxy.
package packaging
