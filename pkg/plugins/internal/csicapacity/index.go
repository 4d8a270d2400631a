package csicapacity

import (
	"iter"
	"sort"
	"sync"

	v1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	storagelisters "k8s.io/client-go/listers/storage/v1"
	"k8s.io/client-go/tools/cache"
)

// Index keeps the capacity objects by class: those whose topology selects
// a single kubernetes.io/hostname are filed under it, the rest are matched
// one by one. It is rebuilt lazily after the informer reports a change.
type Index struct {
	lister storagelisters.CSIStorageCapacityLister

	mu      sync.Mutex
	dirty   bool
	current Snapshot
}

// NewIndex builds an index fed by the CSIStorageCapacity informer.
func NewIndex(inf cache.SharedIndexInformer, lister storagelisters.CSIStorageCapacityLister) (*Index, error) {
	ci := &Index{lister: lister, dirty: true}
	mark := func(interface{}) {
		ci.mu.Lock()
		ci.dirty = true
		ci.mu.Unlock()
	}
	_, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    mark,
		UpdateFunc: func(_, n interface{}) { mark(n) },
		DeleteFunc: mark,
	})
	return ci, err
}

// Snapshot is the index at one moment; it is immutable, so one scheduling
// cycle's parallel Filter and Score calls read it without locks.
type Snapshot map[string]*classCapacities

type classCapacities struct {
	byHost map[string][]*storagev1.CSIStorageCapacity
	other  []*storagev1.CSIStorageCapacity
}

// Current returns the index as of the informer's latest state.
func (ci *Index) Current() Snapshot {
	ci.mu.Lock()
	defer ci.mu.Unlock()
	if !ci.dirty && ci.current != nil {
		return ci.current
	}
	all, err := ci.lister.List(labels.Everything())
	if err != nil {
		return ci.current
	}
	// Name order makes the first reachable object (which VolumeBinding's
	// score reads) stable.
	sort.Slice(all, func(i, j int) bool {
		if all[i].Namespace != all[j].Namespace {
			return all[i].Namespace < all[j].Namespace
		}
		return all[i].Name < all[j].Name
	})
	snap := Snapshot{}
	for _, c := range all {
		cc := snap[c.StorageClassName]
		if cc == nil {
			cc = &classCapacities{byHost: map[string][]*storagev1.CSIStorageCapacity{}}
			snap[c.StorageClassName] = cc
		}
		if h, ok := hostnameOnly(c); ok {
			cc.byHost[h] = append(cc.byHost[h], c)
		} else {
			cc.other = append(cc.other, c)
		}
	}
	ci.current, ci.dirty = snap, false
	return snap
}

// Reachable yields the class's capacity objects whose topology selects the
// node, in name order within each group (hostname-filed first).
func (s Snapshot) Reachable(class string, node *v1.Node) iter.Seq[*storagev1.CSIStorageCapacity] {
	return func(yield func(*storagev1.CSIStorageCapacity) bool) {
		cc := s[class]
		if cc == nil {
			return
		}
		if h, ok := node.Labels[v1.LabelHostname]; ok {
			for _, c := range cc.byHost[h] {
				if !yield(c) {
					return
				}
			}
		}
		for _, c := range cc.other {
			if nodeReaches(c, node.Labels) && !yield(c) {
				return
			}
		}
	}
}

// Tracked reports whether a CSI driver publishes CSIStorageCapacity
// (spec.storageCapacity: true), i.e. whether capacity is checked at all.
func Tracked(d *storagev1.CSIDriver) bool {
	return d != nil && d.Spec.StorageCapacity != nil && *d.Spec.StorageCapacity
}

// VolumeLimit is the largest volume a capacity object admits:
// maximumVolumeSize when set, else capacity, else -1 (nothing fits).
func VolumeLimit(c *storagev1.CSIStorageCapacity) int64 {
	switch {
	case c.MaximumVolumeSize != nil:
		return c.MaximumVolumeSize.Value()
	case c.Capacity != nil:
		return c.Capacity.Value()
	}
	return -1
}

// nodeReaches reports whether a capacity object's topology selects the
// node; an object without topology reaches no node.
func nodeReaches(c *storagev1.CSIStorageCapacity, nodeLabels map[string]string) bool {
	if c.NodeTopology == nil {
		return false
	}
	sel, err := metav1.LabelSelectorAsSelector(c.NodeTopology)
	if err != nil {
		return false
	}
	return sel.Matches(labels.Set(nodeLabels))
}

// hostnameOnly returns the hostname a capacity's topology selects when it
// selects exactly one kubernetes.io/hostname value and nothing else (what
// node-local drivers publish).
func hostnameOnly(c *storagev1.CSIStorageCapacity) (string, bool) {
	t := c.NodeTopology
	if t == nil || len(t.MatchExpressions) != 0 || len(t.MatchLabels) != 1 {
		return "", false
	}
	h, ok := t.MatchLabels[v1.LabelHostname]
	return h, ok
}
