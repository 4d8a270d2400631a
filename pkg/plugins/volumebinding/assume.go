package volumebinding

import (
	"fmt"
	"strconv"
	"sync"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/cache"
	"k8s.io/component-helpers/storage/volume"
)

// classIndex indexes PersistentVolumes by storage class, so matching a
// claim looks only at the volumes of its class.
const classIndex = "berth.io/storage-class"

// assumeCache overlays the decisions of scheduling cycles whose binding
// cycle has not written them yet (a PV reserved for a claim, a claim
// promised to a node) on top of an informer's store. An assumed object is
// dropped as soon as the informer delivers a version newer than the one
// the assumption was made from, or when the binding cycle gives it up.
type assumeCache[T runtime.Object] struct {
	store    cache.Indexer
	resource schema.GroupResource

	mu      sync.Mutex
	assumed map[string]assumption[T]
}

type assumption[T runtime.Object] struct {
	obj T
	// base is the resourceVersion of the informer object the assumption
	// was derived from.
	base int64
}

func newAssumeCache[T runtime.Object](inf cache.SharedIndexInformer, resource schema.GroupResource) *assumeCache[T] {
	return &assumeCache[T]{store: inf.GetIndexer(), resource: resource, assumed: map[string]assumption[T]{}}
}

func resourceVersion(obj runtime.Object) int64 {
	a, err := meta.Accessor(obj)
	if err != nil {
		return 0
	}
	rv, _ := strconv.ParseInt(a.GetResourceVersion(), 10, 64)
	return rv
}

// notFound words the error as a lister does: by name, without namespace.
func (c *assumeCache[T]) notFound(key string) error {
	_, name, _ := cache.SplitMetaNamespaceKey(key)
	return apierrors.NewNotFound(c.resource, name)
}

// informerObj returns the informer's copy (never the assumed one).
func (c *assumeCache[T]) informerObj(key string) (T, error) {
	var zero T
	obj, ok, err := c.store.GetByKey(key)
	if err != nil {
		return zero, err
	}
	if !ok {
		return zero, c.notFound(key)
	}
	t, ok := obj.(T)
	if !ok {
		return zero, fmt.Errorf("%s %q: unexpected object type %T", c.resource.Resource, key, obj)
	}
	return t, nil
}

// Get returns the assumed version of the object when there is one and the
// informer has not moved past it, else the informer's version.
func (c *assumeCache[T]) Get(key string) (T, error) {
	cur, err := c.informerObj(key)
	if err != nil {
		return cur, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.overlay(key, cur), nil
}

// overlay picks the assumed version over cur unless cur is newer. c.mu held.
func (c *assumeCache[T]) overlay(key string, cur T) T {
	a, ok := c.assumed[key]
	if !ok {
		return cur
	}
	if resourceVersion(cur) > a.base {
		// The API server has a newer object: the assumption is settled
		// (or overtaken); either way the informer is the truth now.
		delete(c.assumed, key)
		return cur
	}
	return a.obj
}

// GetAPIObj returns the informer's version, ignoring assumptions.
func (c *assumeCache[T]) GetAPIObj(key string) (T, error) { return c.informerObj(key) }

// Assume records obj, a modified copy of the current object, as what the
// scheduler will write. It fails when obj was derived from an older
// version than the informer now holds.
func (c *assumeCache[T]) Assume(key string, obj T) error {
	cur, err := c.informerObj(key)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	latest := c.overlay(key, cur)
	if resourceVersion(obj) < resourceVersion(latest) {
		return fmt.Errorf("%s %q is out of sync (version %d, cached %d)", c.resource.Resource, key, resourceVersion(obj), resourceVersion(latest))
	}
	c.assumed[key] = assumption[T]{obj: obj, base: resourceVersion(cur)}
	return nil
}

// Restore drops the assumption for key.
func (c *assumeCache[T]) Restore(key string) {
	c.mu.Lock()
	delete(c.assumed, key)
	c.mu.Unlock()
}

// ByIndex lists the objects of an informer index with assumptions applied.
func (c *assumeCache[T]) ByIndex(index, value string) ([]T, error) {
	objs, err := c.store.ByIndex(index, value)
	if err != nil {
		return nil, err
	}
	out := make([]T, 0, len(objs))
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, o := range objs {
		t, ok := o.(T)
		if !ok {
			continue
		}
		key, err := cache.MetaNamespaceKeyFunc(o)
		if err != nil {
			continue
		}
		out = append(out, c.overlay(key, t))
	}
	return out, nil
}

// addClassIndex registers the storage-class index on the PV informer
// unless another profile's plugin already did.
func addClassIndex(inf cache.SharedIndexInformer) error {
	if _, ok := inf.GetIndexer().GetIndexers()[classIndex]; ok {
		return nil
	}
	return inf.AddIndexers(cache.Indexers{classIndex: func(obj interface{}) ([]string, error) {
		pv, ok := obj.(*v1.PersistentVolume)
		if !ok {
			return nil, nil
		}
		return []string{volume.GetPersistentVolumeClass(pv)}, nil
	}})
}
