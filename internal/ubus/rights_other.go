//go:build !unix

package ubus

// No descriptors travel over sockets here.

func oobSpace() int              { return 0 }
func truncated(flags int) bool   { return false }
func closeRights(oob []byte) int { return 0 }
