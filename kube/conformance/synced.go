package conformance

import (
	"context"
	"fmt"
	"time"
)

// synced is what a berth plugin that keeps state fed by informer event
// handlers (DynamicResources' claim and slice trackers) implements to say
// that the state has seen the informers' initial lists. The harness waits
// for it after the factory's WaitForCacheSync, which covers the informers'
// stores but not their handlers.
type synced interface {
	HasSynced() bool
}

// waitSynced waits until every plugin implementing synced has synced.
func waitSynced[P any](ctx context.Context, plugins map[string]P) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for name, p := range plugins {
		s, ok := any(p).(synced)
		if !ok {
			continue
		}
		for !s.HasSynced() {
			select {
			case <-ctx.Done():
				return fmt.Errorf("plugin %s did not sync: %w", name, ctx.Err())
			case <-time.After(100 * time.Microsecond):
			}
		}
	}
	return nil
}
