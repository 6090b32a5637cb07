//go:build !unix

package widget

// peekReady is only used where the platform has MSG_PEEK; elsewhere awaitInput is not reached
// with a raw connection.
func peekReady(uintptr) (bool, error) { return true, nil }
