//go:build unix

package widget

import (
	"errors"
	"syscall"
)

// peekReady reports whether the socket fd has bytes to read (or has been closed by the peer),
// without consuming anything and without blocking.
func peekReady(fd uintptr) (bool, error) {
	var b [1]byte
	for {
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case err == nil:
			return true, nil // data, or 0 bytes: the peer closed, which the read will report
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EAGAIN):
			return false, nil
		default:
			return true, nil // an error the read will report
		}
	}
}
