package dynamicresources

import (
	"fmt"
	"strconv"
	"sync"

	v1 "k8s.io/api/core/v1"
	resourceapi "k8s.io/api/resource/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/tools/cache"
	"k8s.io/dynamic-resource-allocation/structured"
	"k8s.io/utils/ptr"
)

// claimTracker is the plugin's view of ResourceClaims. Three layers, each
// newer than the one below:
//
//   - the informer's store;
//   - claims berth wrote in PreBind and has not yet seen back from the
//     informer (assumed), so the next cycle does not allocate their devices
//     again in that gap;
//   - allocations made in Reserve and not yet written (in flight), shared by
//     the pods of one cycle that use the same claim.
//
// Devices used by the informer's claims are kept per claim as events
// arrive, so gathering the allocated state for a PreFilter is a walk over
// small precomputed sets rather than a decode of every claim.
type claimTracker struct {
	store cache.Indexer
	// handler is the informer registration feeding usage; it has synced
	// once the initial list went through it.
	handler cache.ResourceEventHandlerRegistration

	mu sync.RWMutex
	// usage is what each informer claim (by UID) allocates.
	usage map[types.UID]deviceUsage
	// assumed holds claims written by PreBind, by namespace/name.
	assumed map[string]*resourceapi.ResourceClaim
	// inFlight holds allocations between Reserve and the end of PreBind.
	inFlight map[types.UID]*inFlightAllocation
}

type inFlightAllocation struct {
	claim   *resourceapi.ResourceClaim
	sharers int
}

// deviceUsage is what one claim's allocation takes: whole devices, shares of
// devices that allow multiple allocations, and the capacity those shares
// consume.
type deviceUsage struct {
	dedicated []structured.DeviceID
	shared    []structured.SharedDeviceID
	consumed  []structured.DeviceConsumedCapacity
}

func usageOf(claim *resourceapi.ResourceClaim) deviceUsage {
	var u deviceUsage
	if claim == nil || claim.Status.Allocation == nil {
		return u
	}
	for _, r := range claim.Status.Allocation.Devices.Results {
		// A device given for admin access stays available to others.
		if ptr.Deref(r.AdminAccess, false) {
			continue
		}
		id := structured.MakeDeviceID(r.Driver, r.Pool, r.Device)
		if r.ShareID != nil {
			u.shared = append(u.shared, structured.MakeSharedDeviceID(id, r.ShareID))
			if r.ConsumedCapacity != nil {
				u.consumed = append(u.consumed, structured.NewDeviceConsumedCapacity(id, r.ConsumedCapacity))
			}
			continue
		}
		u.dedicated = append(u.dedicated, id)
	}
	return u
}

func (u deviceUsage) addTo(s *structured.AllocatedState) {
	for _, id := range u.dedicated {
		s.AllocatedDevices.Insert(id)
	}
	for _, id := range u.shared {
		s.AllocatedSharedDeviceIDs.Insert(id)
	}
	for _, c := range u.consumed {
		s.AggregatedCapacity.Insert(c)
	}
}

func newClaimTracker(inf cache.SharedIndexInformer) (*claimTracker, error) {
	t := &claimTracker{
		store:    inf.GetIndexer(),
		usage:    map[types.UID]deviceUsage{},
		assumed:  map[string]*resourceapi.ResourceClaim{},
		inFlight: map[types.UID]*inFlightAllocation{},
	}
	reg, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { t.observe(nil, obj) },
		UpdateFunc: func(oldObj, newObj interface{}) { t.observe(oldObj, newObj) },
		DeleteFunc: func(obj interface{}) { t.forget(obj) },
	})
	t.handler = reg
	return t, err
}

// HasSynced reports whether the informer's initial list has reached the
// tracker's usage index.
func (t *claimTracker) HasSynced() bool { return t.handler != nil && t.handler.HasSynced() }

func claimOf(obj interface{}) *resourceapi.ResourceClaim {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	c, _ := obj.(*resourceapi.ResourceClaim)
	return c
}

func key(namespace, name string) string { return namespace + "/" + name }

func version(c *resourceapi.ResourceClaim) int64 {
	v, _ := strconv.ParseInt(c.ResourceVersion, 10, 64)
	return v
}

// observe records an informer add or update. An assumed claim is dropped
// once the informer holds a version at least as new.
func (t *claimTracker) observe(_, obj interface{}) {
	c := claimOf(obj)
	if c == nil {
		return
	}
	u := usageOf(c)
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(u.dedicated)+len(u.shared) == 0 {
		delete(t.usage, c.UID)
	} else {
		t.usage[c.UID] = u
	}
	k := key(c.Namespace, c.Name)
	if a, ok := t.assumed[k]; ok && (a.UID != c.UID || version(c) >= version(a)) {
		delete(t.assumed, k)
	}
}

func (t *claimTracker) forget(obj interface{}) {
	c := claimOf(obj)
	if c == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.usage, c.UID)
	if a, ok := t.assumed[key(c.Namespace, c.Name)]; ok && a.UID == c.UID {
		delete(t.assumed, key(c.Namespace, c.Name))
	}
}

// Get returns the newest known version of a claim: the assumed one when
// berth wrote it more recently than the informer has caught up with.
func (t *claimTracker) Get(namespace, name string) (*resourceapi.ResourceClaim, error) {
	k := key(namespace, name)
	obj, ok, err := t.store.GetByKey(k)
	if err != nil {
		return nil, err
	}
	if !ok {
		// Worded as kube-scheduler's claim cache words it.
		return nil, fmt.Errorf("could not find ResourceClaim %q", k)
	}
	c := obj.(*resourceapi.ResourceClaim)
	t.mu.RLock()
	a := t.assumed[k]
	t.mu.RUnlock()
	if a != nil && a.UID == c.UID && version(a) >= version(c) {
		return a, nil
	}
	return c, nil
}

// Assume records a claim berth just wrote; it shadows the informer's older
// copy until the informer delivers this version or a newer one.
func (t *claimTracker) Assume(c *resourceapi.ResourceClaim) {
	k := key(c.Namespace, c.Name)
	if obj, ok, _ := t.store.GetByKey(k); ok {
		if cur := obj.(*resourceapi.ResourceClaim); cur.UID == c.UID && version(cur) > version(c) {
			return
		}
	}
	t.mu.Lock()
	t.assumed[k] = c
	t.mu.Unlock()
}

// Restore drops what Assume recorded for the claim.
func (t *claimTracker) Restore(namespace, name string) {
	t.mu.Lock()
	delete(t.assumed, key(namespace, name))
	t.mu.Unlock()
}

// PendingAllocation returns the in-flight allocation of a claim, or nil.
func (t *claimTracker) PendingAllocation(uid types.UID) *resourceapi.AllocationResult {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if f := t.inFlight[uid]; f != nil {
		return f.claim.Status.Allocation
	}
	return nil
}

// SignalPendingAllocation marks claim's allocation (made in Reserve) as in
// flight, or adds a sharer when it already is.
func (t *claimTracker) SignalPendingAllocation(claim *resourceapi.ResourceClaim) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if f := t.inFlight[claim.UID]; f != nil {
		f.sharers++
		return
	}
	t.inFlight[claim.UID] = &inFlightAllocation{claim: claim, sharers: 1}
}

// ReleasePendingAllocation removes one sharer of an in-flight allocation
// (all of them when force is set, once the allocation is written) and
// reports whether the allocation is gone now.
func (t *claimTracker) ReleasePendingAllocation(uid types.UID, force bool) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	f := t.inFlight[uid]
	if f == nil {
		return false
	}
	if force || f.sharers <= 1 {
		delete(t.inFlight, uid)
		return true
	}
	f.sharers--
	return false
}

// InFlight counts the claims whose allocation is in flight.
func (t *claimTracker) InFlight() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.inFlight)
}

// AllocatedState is every device taken by a claim the tracker knows of,
// in the form the structured allocator wants. The caller owns the result.
func (t *claimTracker) AllocatedState() *structured.AllocatedState {
	s := &structured.AllocatedState{
		AllocatedDevices:         sets.New[structured.DeviceID](),
		AllocatedSharedDeviceIDs: sets.New[structured.SharedDeviceID](),
		AggregatedCapacity:       structured.NewConsumedCapacityCollection(),
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	// An assumed claim replaces its informer version's usage.
	shadowed := make(map[types.UID]bool, len(t.assumed))
	for _, a := range t.assumed {
		shadowed[a.UID] = true
		usageOf(a).addTo(s)
	}
	for uid, u := range t.usage {
		if !shadowed[uid] {
			u.addTo(s)
		}
	}
	for _, f := range t.inFlight {
		usageOf(f.claim).addTo(s)
	}
	return s
}

// FindExtended returns the pod's extended-resource claim from an earlier
// attempt, nil when there is none: one the informer holds (its newest
// version), or one berth created and the informer has not delivered yet.
func (t *claimTracker) FindExtended(pod *v1.Pod) *resourceapi.ResourceClaim {
	for _, obj := range t.store.List() {
		c, ok := obj.(*resourceapi.ResourceClaim)
		if !ok || c.Namespace != pod.Namespace || !isExtendedClaimFor(pod, c) {
			continue
		}
		if cur, err := t.Get(c.Namespace, c.Name); err == nil {
			return cur
		}
		return c
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	for _, a := range t.assumed {
		if a.Namespace == pod.Namespace && isExtendedClaimFor(pod, a) {
			return a
		}
	}
	return nil
}
