// Package packaging holds no code: its tests check the OpenWrt packaging,
// that is the .ipk files packaging/ipk.sh writes (ndproxy's and the LuCI
// app's) and the procd init script files/etc/init.d/ndproxy.
package packaging
