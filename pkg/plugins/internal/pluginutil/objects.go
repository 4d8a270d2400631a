package pluginutil

import (
	"fmt"

	"k8s.io/client-go/tools/cache"
)

// As converts the old and new objects of a cluster event into T. Either may
// be nil (an add has no old object, a delete no new one); the zero T is
// returned for it. A tombstone (cache.DeletedFinalStateUnknown) in the old
// object is unwrapped, since a delete can be delivered that way when the
// watch missed the final state.
func As[T any](oldObj, newObj interface{}) (oldT, newT T, err error) {
	if newObj != nil {
		v, ok := newObj.(T)
		if !ok {
			return oldT, newT, fmt.Errorf("expected %T, got %T", newT, newObj)
		}
		newT = v
	}
	if oldObj != nil {
		if tomb, ok := oldObj.(cache.DeletedFinalStateUnknown); ok {
			oldObj = tomb.Obj
		}
		v, ok := oldObj.(T)
		if !ok {
			return oldT, newT, fmt.Errorf("expected %T, got %T", oldT, oldObj)
		}
		oldT = v
	}
	return oldT, newT, nil
}
