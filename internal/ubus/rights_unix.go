//go:build unix

package ubus

import "syscall"

// oobSpace leaves room for a few descriptors; the kernel closes any that do
// not fit and sets MSG_CTRUNC.
func oobSpace() int { return syscall.CmsgSpace(16 * 4) }

// truncated reports whether the kernel dropped control data.
func truncated(flags int) bool { return flags&syscall.MSG_CTRUNC != 0 }

// closeRights closes every file descriptor passed in the control messages
// oob and returns how many there were. ndproxy never wants one.
func closeRights(oob []byte) int {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return 0
	}
	n := 0
	for i := range msgs {
		fds, err := syscall.ParseUnixRights(&msgs[i])
		if err != nil {
			continue
		}
		for _, fd := range fds {
			syscall.Close(fd)
			n++
		}
	}
	return n
}
