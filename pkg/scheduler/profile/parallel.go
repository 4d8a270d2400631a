package profile

import (
	"context"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
)

// Parallelize calls fn(i) for i in [0, n) on at most workers goroutines,
// handing out chunks of about sqrt(n) indexes so that goroutines do not
// contend on the counter for small pieces of work. It stops handing out
// work once ctx is done. With one worker or tiny n it runs inline.
func Parallelize(ctx context.Context, workers, n int, fn func(i int)) {
	if n <= 0 {
		return
	}
	chunk := int(math.Sqrt(float64(n)))
	if chunk < 1 {
		chunk = 1
	}
	if workers <= 1 || n <= chunk {
		for i := 0; i < n; i++ {
			if i%chunk == 0 && ctx.Err() != nil {
				return
			}
			fn(i)
		}
		return
	}
	chunks := (n + chunk - 1) / chunk
	// The work is CPU-bound: goroutines beyond the available processors
	// only add scheduling overhead.
	workers = min(workers, chunks, runtime.GOMAXPROCS(0))
	var next atomic.Int64
	work := func() {
		for {
			c := int(next.Add(1) - 1)
			if c >= chunks || ctx.Err() != nil {
				return
			}
			end := min((c+1)*chunk, n)
			for i := c * chunk; i < end; i++ {
				fn(i)
			}
		}
	}
	var wg sync.WaitGroup
	wg.Add(workers - 1)
	for w := 1; w < workers; w++ {
		go func() {
			defer wg.Done()
			work()
		}()
	}
	// The caller is one of the workers rather than idling in Wait.
	work()
	wg.Wait()
}
