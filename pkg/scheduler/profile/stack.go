package profile

import "runtime"

// stack returns the current goroutine's stack trace.
func stack() []byte {
	bp := stackPool.Get().(*[]byte)
	defer stackPool.Put(bp)
	n := runtime.Stack(*bp, false)
	out := make([]byte, n)
	copy(out, (*bp)[:n])
	return out
}
