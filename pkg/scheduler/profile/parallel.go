package profile

import (
	"context"
	"math"
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
	if workers > chunks {
		workers = chunks
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	wg.Add(workers)
	for w := 0; w < workers; w++ {
		go func() {
			defer wg.Done()
			for {
				c := int(next.Add(1) - 1)
				if c >= chunks || ctx.Err() != nil {
					return
				}
				end := (c + 1) * chunk
				if end > n {
					end = n
				}
				for i := c * chunk; i < end; i++ {
					fn(i)
				}
			}
		}()
	}
	wg.Wait()
}
