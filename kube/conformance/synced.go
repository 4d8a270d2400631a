package conformance

import (
	"context"
	"fmt"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
)

// synced is what a berth plugin that keeps state fed by informer event
// handlers (DynamicResources' claim and slice trackers) implements to say
// that the state has seen the informers' initial lists. The harness waits
// for it after the factory's WaitForCacheSync, which covers the informers'
// stores but not their handlers.
type synced interface {
	HasSynced() bool
}

// informerFed are the berth plugins known to keep such state.
var informerFed = map[string]bool{"DynamicResources": true}

// unsynced records the informerFed plugins that do not implement synced:
// the harness cannot wait for them, so their verdicts on a fresh case race
// with their handlers (see the KnownDifference below).
var unsynced sync.Map

// waitSynced waits until every plugin implementing synced has synced.
func waitSynced[P any](ctx context.Context, plugins map[string]P) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for name, p := range plugins {
		s, ok := any(p).(synced)
		if !ok {
			if informerFed[name] {
				unsynced.Store(name, true)
			}
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

func init() {
	KnownDifferences = append(KnownDifferences, KnownDifference{
		Plugin: "DynamicResources",
		Why: "berth's plugin does not implement HasSynced, so the harness starts filtering before its ResourceSlice tracker " +
			"(PreFilter's Error \"the ResourceSlice tracker has not synced yet\", pkg/plugins/dynamicresources/filter.go:145) and " +
			"its claim tracker's handler (registration dropped in newClaimTracker, tracker.go:97) have seen the initial lists; " +
			"every diff of the plugin counts as known until it does",
		Wrong: "berth",
		Match: func(Diff, *v1.Pod, *Cluster) bool {
			_, ok := unsynced.Load("DynamicResources")
			return ok
		},
	})
}
