package dynamicresources

import (
	"context"
	"errors"
	"fmt"
	"slices"

	v1 "k8s.io/api/core/v1"
	resourceapi "k8s.io/api/resource/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"
	"k8s.io/dynamic-resource-allocation/resourceclaim"
	"k8s.io/klog/v2"

	"github.com/berthsched/berth/pkg/framework"
)

// Errors PreBind reports when devices' binding conditions are not met.
var (
	// ErrBindingTimeout: a device's binding conditions did not all become
	// true within the binding timeout.
	ErrBindingTimeout = errors.New("device binding timeout")
	// ErrBindingFailed: a device reported one of its binding failure
	// conditions.
	ErrBindingFailed = errors.New("device binding failed")
)

// Reserve puts the allocation Filter found on the chosen node in flight,
// so that no other pod is given these devices before PreBind writes them.
func (pl *DynamicResources) Reserve(ctx context.Context, cs *framework.CycleState, pod *v1.Pod, nodeName string) *framework.Status {
	s, err := getState(cs)
	if err != nil {
		return framework.AsStatus(err)
	}
	if len(s.claims) == 0 || s.allocator == nil {
		return nil
	}
	idx := s.toAllocate()
	s.mu.Lock()
	results, ok := s.byNode[nodeName]
	ne := s.extByNode[nodeName]
	s.mu.Unlock()
	if !ok {
		if len(idx) == 1 && s.isExt(idx[0]) {
			// Only the extended-resource claim, and the node's device
			// plugins provide every resource: nothing to allocate.
			return nil
		}
		return framework.AsStatus(fmt.Errorf("no device allocation was found for node %s", nodeName))
	}
	if len(results) != len(idx) {
		return framework.AsStatus(fmt.Errorf("internal error: %d allocations for %d claims to allocate", len(results), len(idx)))
	}
	for n, i := range idx {
		alloc := &results[n]
		c := s.claims[i]
		if s.isExt(i) {
			if ne == nil {
				// Device plugins provide every resource on this node.
				continue
			}
			c = ne.claim
		}
		s.allocation[i] = alloc
		c = c.DeepCopy()
		if !slices.Contains(c.Finalizers, resourceapi.Finalizer) {
			c.Finalizers = append(c.Finalizers, resourceapi.Finalizer)
		}
		c.Status.Allocation = alloc
		pl.claims.SignalPendingAllocation(c)
		klog.FromContext(ctx).V(5).Info("Devices reserved", "pod", klog.KObj(pod), "claim", klog.KObj(c), "node", nodeName)
	}
	return nil
}

// Unreserve gives back what Reserve and a failed PreBind took: in-flight
// allocations, assumed claims, and the pod's entry in reservedFor.
func (pl *DynamicResources) Unreserve(ctx context.Context, cs *framework.CycleState, pod *v1.Pod, nodeName string) {
	s, err := getState(cs)
	if err != nil || len(s.claims) == 0 {
		return
	}
	logger := klog.FromContext(ctx)
	for i, c := range s.claims {
		if s.isExt(i) {
			pl.unreserveExtended(ctx, pod, s, c)
			continue
		}
		if pl.claims.ReleasePendingAllocation(c.UID, false) {
			pl.claims.Restore(c.Namespace, c.Name)
			logger.V(5).Info("Released in-flight allocation", "pod", klog.KObj(pod), "claim", klog.KObj(c))
		}
		if c.Status.Allocation != nil && resourceclaim.IsReservedForPod(pod, c, false) {
			// A strategic merge patch removes just this pod's entry,
			// whatever else changed in the claim since.
			patch := fmt.Sprintf(`{"metadata":{"uid":%q},"status":{"reservedFor":[{"$patch":"delete","uid":%q}]}}`, c.UID, pod.UID)
			if _, err := pl.handle.ClientSet().ResourceV1().ResourceClaims(c.Namespace).Patch(ctx, c.Name, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}, "status"); err != nil {
				// The next attempt of the pod sees the reservation and
				// keeps it, so nothing is lost.
				logger.Error(err, "Removing the pod from the claim's reservedFor", "pod", klog.KObj(pod), "claim", klog.KObj(c))
			}
		}
	}
}

// unreserveExtended releases the extended-resource claim's in-flight
// allocation and deletes the claim if PreBind (or an earlier attempt)
// created it.
func (pl *DynamicResources) unreserveExtended(ctx context.Context, pod *v1.Pod, s *stateData, c *resourceapi.ResourceClaim) {
	if pl.claims.ReleasePendingAllocation(s.ext.initialUID, false) {
		pl.claims.Restore(c.Namespace, c.Name)
	}
	if c.Name == extendedClaimName {
		return
	}
	klog.FromContext(ctx).V(5).Info("Deleting extended resource claim", "pod", klog.KObj(pod), "claim", klog.KObj(c))
	if err := pl.deleteClaim(ctx, c); err != nil {
		klog.FromContext(ctx).Error(err, "Deleting extended resource claim", "pod", klog.KObj(pod), "claim", klog.KObj(c))
	}
}

// PreBind writes each claim's allocation (with the finalizer that keeps
// the claim from vanishing while allocated) and reserves the claim for the
// pod, then waits for the devices' binding conditions when they have any.
func (pl *DynamicResources) PreBind(ctx context.Context, cs *framework.CycleState, pod *v1.Pod, nodeName string) (ret *framework.Status) {
	s, err := getState(cs)
	if err != nil {
		return framework.AsStatus(err)
	}
	if len(s.claims) == 0 {
		return nil
	}
	logger := klog.FromContext(ctx)
	var written []types.UID
	defer func() {
		// The allocations are in the API (and assumed) now; the in-flight
		// copies are not needed once PreBind succeeded. On failure,
		// Unreserve releases them.
		if ret.IsSuccess() {
			for _, uid := range written {
				pl.claims.ReleasePendingAllocation(uid, true)
			}
		}
	}()
	for i, c := range s.claims {
		if resourceclaim.IsReservedForPod(pod, c, false) {
			continue
		}
		var ne *nodeExtended
		if s.isExt(i) {
			s.mu.Lock()
			ne = s.extByNode[nodeName]
			s.mu.Unlock()
			if s.allocation[i] == nil && c.Spec.Devices.Requests == nil {
				// Device plugins provide every resource on this node.
				continue
			}
			if ne == nil {
				return framework.AsStatus(fmt.Errorf("extended resource claim not found for node %s", nodeName))
			}
			if c.Name == extendedClaimName {
				created, err := pl.createExtendedClaim(ctx, ne)
				if err != nil {
					return framework.AsStatus(err)
				}
				// From here on Unreserve deletes it.
				s.claims[i] = created
				c = created
			}
		}
		updated, err := pl.writeClaim(ctx, c, s.allocation[i], pod)
		if err != nil {
			return framework.AsStatus(err)
		}
		if s.allocation[i] != nil {
			uid := c.UID
			if s.isExt(i) {
				uid = s.ext.initialUID
			}
			written = append(written, uid)
		}
		s.claims[i] = updated
		if ne != nil {
			if err := pl.recordExtendedClaim(ctx, pod, updated, ne); err != nil {
				return framework.AsStatus(err)
			}
		}
		logger.V(4).Info("Claim allocated and reserved", "pod", klog.KObj(pod), "claim", klog.KObj(updated), "node", nodeName)
	}
	if !hasBindingConditions(s.claims) {
		return nil
	}
	pl.handle.EventRecorder().Eventf(pod, nil, v1.EventTypeNormal, "BindingConditionsPending", "Scheduling",
		"waiting for binding conditions of devices on node %s", nodeName)
	err = wait.PollUntilContextTimeout(ctx, pl.pollInterval, pl.bindingTimeout, true, func(context.Context) (bool, error) {
		return pl.podReadyForBinding(s)
	})
	if errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("%w: %w", ErrBindingTimeout, err)
	}
	if err != nil {
		return framework.AsStatus(err)
	}
	return nil
}

// writeClaim records alloc (when set) and the pod's reservation in the
// claim's status, retrying on conflicts with a fresh copy, and assumes
// the result so the next cycle sees it before the informer does.
func (pl *DynamicResources) writeClaim(ctx context.Context, c *resourceapi.ResourceClaim, alloc *resourceapi.AllocationResult, pod *v1.Pod) (*resourceapi.ResourceClaim, error) {
	client := pl.handle.ClientSet().ResourceV1().ResourceClaims(c.Namespace)
	c, err := pl.updateClaim(ctx, c, func(c *resourceapi.ResourceClaim) (*resourceapi.ResourceClaim, error) {
		if c.DeletionTimestamp != nil {
			return nil, fmt.Errorf("claim %s got deleted in the meantime", klog.KObj(c))
		}
		if alloc != nil {
			if c.Status.Allocation != nil {
				return nil, fmt.Errorf("claim %s got allocated elsewhere in the meantime", klog.KObj(c))
			}
			// The finalizer is metadata: a plain update, before the status.
			if !slices.Contains(c.Finalizers, resourceapi.Finalizer) {
				c.Finalizers = append(c.Finalizers, resourceapi.Finalizer)
				u, err := client.Update(ctx, c, metav1.UpdateOptions{})
				if err != nil {
					return nil, fmt.Errorf("add finalizer to claim %s: %w", klog.KObj(c), err)
				}
				c = u
			}
			c.Status.Allocation = alloc.DeepCopy()
		}
		if c.Status.Allocation == nil {
			return nil, fmt.Errorf("claim %s got deallocated elsewhere in the meantime", klog.KObj(c))
		}
		if c.Status.Allocation.AllocationTimestamp == nil {
			c.Status.Allocation.AllocationTimestamp = &metav1.Time{Time: pl.now()}
		}
		c.Status.ReservedFor = append(c.Status.ReservedFor, resourceapi.ResourceClaimConsumerReference{
			Resource: "pods", Name: pod.Name, UID: pod.UID,
		})
		u, err := client.UpdateStatus(ctx, c, metav1.UpdateOptions{})
		if err != nil {
			return nil, fmt.Errorf("write allocation and reservation of claim %s: %w", klog.KObj(c), err)
		}
		return u, nil
	})
	if err != nil {
		return nil, err
	}
	pl.claims.Assume(c)
	return c, nil
}

// updateClaim runs change on a copy of c, and again on a fresh copy from
// the API after each write conflict; change returns the claim as written.
func (pl *DynamicResources) updateClaim(ctx context.Context, c *resourceapi.ResourceClaim, change func(*resourceapi.ResourceClaim) (*resourceapi.ResourceClaim, error)) (*resourceapi.ResourceClaim, error) {
	client := pl.handle.ClientSet().ResourceV1().ResourceClaims(c.Namespace)
	cur := c.DeepCopy()
	refresh := false
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if refresh {
			fresh, err := client.Get(ctx, cur.Name, metav1.GetOptions{})
			if err != nil {
				return fmt.Errorf("get claim %s after a conflict: %w", klog.KObj(cur), err)
			}
			cur = fresh
		}
		refresh = true
		written, err := change(cur)
		if err == nil {
			cur = written
		}
		return err
	})
	return cur, err
}

// hasBindingConditions reports whether some allocated device must report
// binding conditions before the pod may bind.
func hasBindingConditions(claims []*resourceapi.ResourceClaim) bool {
	for _, c := range claims {
		if c.Status.Allocation == nil {
			continue
		}
		for _, r := range c.Status.Allocation.Devices.Results {
			if len(r.BindingConditions) > 0 {
				return true
			}
		}
	}
	return false
}

// podReadyForBinding re-reads the pod's claims and reports whether all
// their devices' binding conditions hold; a failure condition or a timed
// out claim is an error.
func (pl *DynamicResources) podReadyForBinding(s *stateData) (bool, error) {
	for i, c := range s.claims {
		cur, err := pl.claims.Get(c.Namespace, c.Name)
		if err != nil {
			return false, err
		}
		s.claims[i] = cur
		ready, err := claimReadyForBinding(cur)
		if err != nil {
			return false, err
		}
		if !ready {
			if pl.bindingTimedOut(cur) {
				return false, fmt.Errorf("%w: claim=%s", ErrBindingTimeout, cur.Name)
			}
			return false, nil
		}
	}
	return true, nil
}

// claimReadyForBinding reports whether every binding condition of the
// claim's devices is true; a true failure condition is an error.
func claimReadyForBinding(c *resourceapi.ResourceClaim) (bool, error) {
	if c.Status.Allocation == nil {
		return false, nil
	}
	for _, r := range c.Status.Allocation.Devices.Results {
		if len(r.BindingConditions) == 0 {
			continue
		}
		var st *resourceapi.AllocatedDeviceStatus
		for j := range c.Status.Devices {
			d := &c.Status.Devices[j]
			if d.Driver == r.Driver && d.Pool == r.Pool && d.Device == r.Device {
				st = d
				break
			}
		}
		if st == nil {
			return false, nil
		}
		for _, cond := range r.BindingFailureConditions {
			if f := apimeta.FindStatusCondition(st.Conditions, cond); f != nil && f.Status == metav1.ConditionTrue {
				return false, fmt.Errorf("%w: claim=%s, reason=%s, message=%q", ErrBindingFailed, c.Name, f.Reason, f.Message)
			}
		}
		for _, cond := range r.BindingConditions {
			if !apimeta.IsStatusConditionTrue(st.Conditions, cond) {
				return false, nil
			}
		}
	}
	return true, nil
}

// bindingTimedOut reports whether a claim with binding conditions was
// allocated longer ago than the binding timeout.
func (pl *DynamicResources) bindingTimedOut(c *resourceapi.ResourceClaim) bool {
	a := c.Status.Allocation
	if a == nil || a.AllocationTimestamp == nil {
		return false
	}
	for _, r := range a.Devices.Results {
		if r.BindingConditions != nil && a.AllocationTimestamp.Add(pl.bindingTimeout).Before(pl.now()) {
			return true
		}
	}
	return false
}
