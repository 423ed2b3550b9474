package ubus

import (
	"context"
	"errors"
	"fmt"
)

// Status is a ubus status code (ubusmsg.h enum ubus_msg_status), the result
// every request ends with. A non-OK Status is an error, compared with
// errors.Is the way syscall.Errno is:
//
//	if errors.Is(err, ubus.StatusNotFound) { ... }
//
// A method handler returns one (possibly wrapped) to choose the code its
// caller sees.
type Status int32

// The status codes, numbered as on the wire.
const (
	StatusOK Status = iota
	StatusInvalidCommand
	StatusInvalidArgument
	StatusMethodNotFound
	StatusNotFound
	StatusNoData
	StatusPermissionDenied
	StatusTimeout
	StatusNotSupported
	StatusUnknownError
	StatusConnectionFailed
	StatusNoMemory
	StatusParseError
	StatusSystemError
)

// statusText is libubus's ubus_strerror, lowercased for Go error strings.
var statusText = [...]string{
	StatusOK:               "success",
	StatusInvalidCommand:   "invalid command",
	StatusInvalidArgument:  "invalid argument",
	StatusMethodNotFound:   "method not found",
	StatusNotFound:         "not found",
	StatusNoData:           "no response",
	StatusPermissionDenied: "permission denied",
	StatusTimeout:          "request timed out",
	StatusNotSupported:     "operation not supported",
	StatusUnknownError:     "unknown error",
	StatusConnectionFailed: "connection failed",
	StatusNoMemory:         "out of memory",
	StatusParseError:       "parsing message data failed",
	StatusSystemError:      "system error",
}

func (s Status) Error() string {
	if s >= 0 && int(s) < len(statusText) {
		return statusText[s]
	}
	return fmt.Sprintf("ubus status %d", int32(s))
}

// StatusOf picks the status to answer a request with when a handler returns
// err: the Status inside err, TIMEOUT for an expired context, and
// UNKNOWN_ERROR for anything else.
func StatusOf(err error) Status {
	var s Status
	switch {
	case err == nil:
		return StatusOK
	case errors.As(err, &s):
		return s
	case errors.Is(err, context.DeadlineExceeded):
		return StatusTimeout
	}
	return StatusUnknownError
}
