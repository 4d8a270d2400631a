package conformance

import (
	"context"
	"fmt"
	"time"

	berthfw "github.com/berthsched/berth/pkg/framework"
)

// waitSynced waits until every plugin that keeps state fed by its own
// informer handlers (berthfw.SyncedPlugin) has synced: the factory's
// WaitForCacheSync covers the informers' stores, not their handlers.
func waitSynced[P any](ctx context.Context, plugins map[string]P) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for name, p := range plugins {
		s, ok := any(p).(berthfw.SyncedPlugin)
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
