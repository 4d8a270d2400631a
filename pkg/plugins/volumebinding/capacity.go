package volumebinding

import (
	"sort"
	"sync"

	v1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/labels"
	storagelisters "k8s.io/client-go/listers/storage/v1"
	"k8s.io/client-go/tools/cache"
)

// capacityIndex answers "which CSIStorageCapacity lets this node take a
// volume of this size in this class" without scanning every capacity
// object for every node: node-local drivers publish one object per node,
// so a cluster of 5,000 nodes has 5,000 objects per class. Objects whose
// topology selects a single hostname are found by map lookup; the rest are
// matched one by one. The index is rebuilt lazily after the informer
// reports a change.
type capacityIndex struct {
	lister storagelisters.CSIStorageCapacityLister

	mu      sync.Mutex
	dirty   bool
	byClass capacities
}

type classCapacities struct {
	byHost map[string][]*storagev1.CSIStorageCapacity
	other  []*storagev1.CSIStorageCapacity
}

func newCapacityIndex(inf cache.SharedIndexInformer, lister storagelisters.CSIStorageCapacityLister) (*capacityIndex, error) {
	ci := &capacityIndex{lister: lister, dirty: true}
	mark := func(interface{}) { ci.markDirty() }
	_, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    mark,
		UpdateFunc: func(_, n interface{}) { mark(n) },
		DeleteFunc: mark,
	})
	return ci, err
}

func (ci *capacityIndex) markDirty() {
	ci.mu.Lock()
	ci.dirty = true
	ci.mu.Unlock()
}

func (ci *capacityIndex) current() capacities {
	ci.mu.Lock()
	defer ci.mu.Unlock()
	if !ci.dirty && ci.byClass != nil {
		return ci.byClass
	}
	all, err := ci.lister.List(labels.Everything())
	if err != nil {
		return ci.byClass
	}
	// Name order makes the chosen object (which scoring reads) stable.
	sort.Slice(all, func(i, j int) bool {
		if all[i].Namespace != all[j].Namespace {
			return all[i].Namespace < all[j].Namespace
		}
		return all[i].Name < all[j].Name
	})
	idx := capacities{}
	for _, c := range all {
		cc := idx[c.StorageClassName]
		if cc == nil {
			cc = &classCapacities{byHost: map[string][]*storagev1.CSIStorageCapacity{}}
			idx[c.StorageClassName] = cc
		}
		if h, ok := hostnameOnly(c); ok {
			cc.byHost[h] = append(cc.byHost[h], c)
		} else {
			cc.other = append(cc.other, c)
		}
	}
	ci.byClass, ci.dirty = idx, false
	return idx
}

// capacities is one cycle's view of the index (read without locks by the
// parallel Filter calls).
type capacities map[string]*classCapacities

// lookup returns the first capacity object of the class that the node can
// reach and whose volume limit holds size bytes, or nil.
func (cs capacities) lookup(class string, node *v1.Node, size int64) *storagev1.CSIStorageCapacity {
	cc := cs[class]
	if cc == nil {
		return nil
	}
	if h, ok := node.Labels[v1.LabelHostname]; ok {
		for _, c := range cc.byHost[h] {
			if volumeLimit(c) >= size {
				return c
			}
		}
	}
	for _, c := range cc.other {
		if volumeLimit(c) >= size && nodeReaches(c, node.Labels) {
			return c
		}
	}
	return nil
}
