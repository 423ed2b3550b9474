// Package ubus is a native Go client for OpenWrt's ubus message bus.
//
// It speaks the ubusd wire protocol directly (no cgo, no `ubus` CLI), so
// ndproxy stays a static CGO_ENABLED=0 binary on every OpenWrt target. The
// layers, bottom up:
//
//   - blob attributes and blobmsg values (libubox blob.h, blobmsg.h):
//     [Table], [Array] and the scalar [Value] types, [AppendTable], [ParseTable];
//   - ubus messages (ubus ubusmsg.h): [Message], [ParseMessage];
//   - the [Client]: calls, objects with methods, events, subscriptions, and
//     reconnection when ubusd restarts.
//
// The byte layout is checked against traffic recorded from a real ubusd (see
// testdata/captures).
package ubus
