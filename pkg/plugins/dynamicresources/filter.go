package dynamicresources

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	v1 "k8s.io/api/core/v1"
	resourceapi "k8s.io/api/resource/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/dynamic-resource-allocation/resourceclaim"
	"k8s.io/dynamic-resource-allocation/structured"
	"k8s.io/klog/v2"

	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/plugins/internal/pluginutil"
)

// Reasons, worded as kube-scheduler words them (conformance compares them).
const (
	reasonInUse          = "resourceclaim in use"
	reasonNotAvailable   = "resourceclaim not available on the node"
	reasonCannotAllocate = "cannot allocate all claims"
)

// stateData is one pod's cycle.
type stateData struct {
	// claims are the pod's claims in spec order, as read in PreFilter,
	// followed by its extended-resource claim when it has one; PreBind
	// replaces entries with what it wrote.
	claims []*resourceapi.ResourceClaim
	// numUser counts the pod's own claims, at the front of claims.
	numUser int
	// ext is set when the pod requests extended resources backed by DRA.
	ext *extendedState
	// podClaimNames are the pod's names for claims (spec.resourceClaims).
	podClaimNames []string
	// availableOn is the node selector of each allocated claim (nil: any).
	availableOn []*nodeaffinity.NodeSelector
	// allocation is set per claim by Reserve (and by PreFilter for a claim
	// another pod's Reserve allocated and PreBind has not written yet).
	allocation []*resourceapi.AllocationResult
	// allocator is set when some claim needs allocating.
	allocator structured.Allocator

	mu sync.Mutex
	// unavailable holds the indices of allocated claims that some node
	// could not reach; PostFilter may deallocate one.
	unavailable sets.Set[int]
	// byNode holds, per node that passed Filter, the allocation results of
	// the claims to allocate, in the order of toAllocate.
	byNode map[string][]resourceapi.AllocationResult
	// extByNode holds, per node that passed Filter, the node's variant of
	// the extended-resource claim; absent when device plugins provide
	// every resource there.
	extByNode map[string]*nodeExtended
}

// extClaim returns the pod's extended-resource claim, or nil.
func (s *stateData) extClaim() *resourceapi.ResourceClaim {
	if len(s.claims) > s.numUser {
		return s.claims[s.numUser]
	}
	return nil
}

// isExt reports whether index i is the extended-resource claim.
func (s *stateData) isExt(i int) bool { return i >= s.numUser }

// Clone shares the state: preemption's what-if runs do not change claims.
func (s *stateData) Clone() framework.StateData { return s }

// toAllocate lists the indices of claims without an allocation.
func (s *stateData) toAllocate() []int {
	var out []int
	for i, c := range s.claims {
		if c.Status.Allocation == nil {
			out = append(out, i)
		}
	}
	return out
}

func getState(cs *framework.CycleState) (*stateData, error) {
	d, err := cs.Read(stateKey)
	if err != nil {
		return nil, err
	}
	s, ok := d.(*stateData)
	if !ok {
		return nil, fmt.Errorf("%s: unexpected cycle state %T", Name, d)
	}
	return s, nil
}

// PreFilter reads the pod's claims, rejects a pod whose allocated claim is
// in use elsewhere, whose claim is being allocated for another pod right
// now, or whose request names a class that does not exist, and prepares
// the allocator when something needs allocating.
func (pl *DynamicResources) PreFilter(ctx context.Context, cs *framework.CycleState, pod *v1.Pod, _ []*framework.NodeInfo) (*framework.PreFilterResult, *framework.Status) {
	s := &stateData{}
	cs.Write(stateKey, s)
	if len(pod.Spec.ResourceClaims) == 0 && !pl.hasBackedRequest(pod) {
		// Most pods: no maps to allocate.
		return nil, framework.NewStatus(framework.Skip)
	}
	s.byNode = map[string][]resourceapi.AllocationResult{}
	s.extByNode = map[string]*nodeExtended{}
	logger := klog.FromContext(ctx)
	if err := pl.foreachClaim(pod, func(podClaimName string, c *resourceapi.ResourceClaim) {
		s.claims = append(s.claims, c)
		s.podClaimNames = append(s.podClaimNames, podClaimName)
	}); err != nil {
		return nil, framework.NewStatus(framework.UnschedulableAndUnresolvable, err.Error())
	}
	s.numUser = len(s.claims)
	if ext := pl.preFilterExtended(pod, s); ext != nil {
		s.claims = append(s.claims, ext)
		s.podClaimNames = append(s.podClaimNames, "extended-resources")
	}
	if len(s.claims) == 0 {
		return nil, framework.NewStatus(framework.Skip)
	}
	s.availableOn = make([]*nodeaffinity.NodeSelector, len(s.claims))
	s.allocation = make([]*resourceapi.AllocationResult, len(s.claims))
	toAllocate := 0
	for i, c := range s.claims {
		if c.Status.Allocation != nil {
			if !resourceclaim.CanBeReserved(c) && !resourceclaim.IsReservedForPod(pod, c, false) {
				return nil, framework.NewStatus(framework.UnschedulableAndUnresolvable, reasonInUse)
			}
			if sel := c.Status.Allocation.NodeSelector; sel != nil {
				ns, err := nodeaffinity.NewNodeSelector(sel)
				if err != nil {
					return nil, framework.AsStatus(err)
				}
				s.availableOn[i] = ns
			}
			continue
		}
		toAllocate++
		if pl.claims.PendingAllocation(c.UID) != nil {
			return nil, framework.NewStatus(framework.UnschedulableAndUnresolvable,
				fmt.Sprintf("resource claim %s is in the process of being allocated", klog.KObj(c)))
		}
		if s.isExt(i) {
			// Its requests are made per node in Filter; a claim left by
			// an earlier attempt is refused there.
			continue
		}
		for _, r := range c.Spec.Devices.Requests {
			switch {
			case r.Exactly != nil:
				if st := pl.checkClass(r.Exactly.DeviceClassName, r.Name); st != nil {
					return nil, st
				}
			case len(r.FirstAvailable) > 0:
				for _, sub := range r.FirstAvailable {
					if st := pl.checkClass(sub.DeviceClassName, r.Name+"/"+sub.Name); st != nil {
						return nil, st
					}
				}
			default:
				return nil, framework.NewStatus(framework.UnschedulableAndUnresolvable,
					fmt.Sprintf("resource claim %s, request %s: unknown request type", klog.KObj(c), r.Name))
			}
		}
	}
	if toAllocate == 0 {
		return nil, nil
	}
	if !pl.HasSynced() {
		// Allocating against a partial view of the devices could reject
		// a pod that fits, or hand out a device that is taken; back off
		// and retry instead.
		return nil, framework.AsStatus(errors.New("the ResourceClaim and ResourceSlice trackers have not synced yet"))
	}
	slices, err := pl.slices.ListPatchedResourceSlices()
	if err != nil {
		return nil, framework.AsStatus(fmt.Errorf("listing ResourceSlices: %w", err))
	}
	alloc, err := structured.NewAllocator(ctx, Features, *pl.claims.AllocatedState(), classLister{pl.classes}, slices, pl.celCache)
	if err != nil {
		return nil, framework.AsStatus(err)
	}
	s.allocator = alloc
	logger.V(5).Info("Prepared device allocation", "pod", klog.KObj(pod), "claims", toAllocate, "slices", len(slices))
	return nil, nil
}

// checkClass fails a request whose class is missing (the pod waits for a
// DeviceClass event) or not named at all.
func (pl *DynamicResources) checkClass(class, request string) *framework.Status {
	if class == "" {
		return framework.AsStatus(fmt.Errorf("request %s: unsupported request type", request))
	}
	if _, err := pl.classes.Get(class); err != nil && apierrors.IsNotFound(err) {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable,
			fmt.Sprintf("request %s: device class %s does not exist", request, class))
	}
	return nil
}

// PreFilterExtensions is nil: other pods on a node do not change claims.
func (pl *DynamicResources) PreFilterExtensions() framework.PreFilterExtensions { return nil }

// Filter checks that every allocated claim is reachable from the node and
// that the allocator can satisfy all the others on it; the allocation
// found is kept for Reserve.
func (pl *DynamicResources) Filter(ctx context.Context, cs *framework.CycleState, pod *v1.Pod, ni *framework.NodeInfo) *framework.Status {
	s, err := getState(cs)
	if err != nil {
		return framework.AsStatus(err)
	}
	if len(s.claims) == 0 {
		return nil
	}
	ne, st := pl.filterExtended(s, pod, ni)
	if st != nil {
		return st
	}
	if ne == nil && s.numUser == 0 {
		// Device plugins provide every extended resource here.
		return nil
	}
	node := ni.Node()
	var unavailable []int
	for i, c := range s.claims {
		if sel := s.availableOn[i]; sel != nil && !sel.Match(node) {
			unavailable = append(unavailable, i)
			continue
		}
		if c.Status.Allocation != nil {
			ready, err := claimReadyForBinding(c)
			if err != nil || (!ready && pl.bindingTimedOut(c)) {
				unavailable = append(unavailable, i)
			}
		}
	}
	var results []resourceapi.AllocationResult
	// The allocator's verdict comes first, as in kube-scheduler.
	if s.allocator != nil {
		actx := ctx
		if pl.filterTimeout > 0 {
			var cancel context.CancelFunc
			actx, cancel = context.WithTimeout(ctx, pl.filterTimeout)
			defer cancel()
		}
		var claims []*resourceapi.ResourceClaim
		for _, i := range s.toAllocate() {
			c := s.claims[i]
			if s.isExt(i) && ne != nil {
				c = ne.claim
			}
			claims = append(claims, c)
		}
		res, err := s.allocator.Allocate(actx, node, claims)
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			// Transient: back off and retry rather than wait for an event.
			return framework.AsStatus(fmt.Errorf("node %s: timed out trying to allocate devices", node.Name))
		case errors.Is(err, structured.ErrFailedAllocationOnNode):
			return framework.NewStatus(framework.UnschedulableAndUnresolvable, err.Error())
		case ctx.Err() != nil:
			return framework.NewStatus(framework.UnschedulableAndUnresolvable,
				fmt.Sprintf("asked by caller to stop allocating devices: %v", context.Cause(ctx)))
		case err != nil:
			// A broken claim or class (a CEL error, say).
			return framework.AsStatus(err)
		}
		if len(res) != len(claims) {
			return framework.NewStatus(framework.UnschedulableAndUnresolvable, reasonCannotAllocate)
		}
		results = res
	}
	if len(unavailable) > 0 {
		s.mu.Lock()
		if s.unavailable == nil {
			s.unavailable = sets.New[int]()
		}
		s.unavailable.Insert(unavailable...)
		s.mu.Unlock()
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, reasonNotAvailable)
	}
	if s.allocator != nil {
		s.mu.Lock()
		s.byNode[node.Name] = results
		if ne != nil {
			s.extByNode[node.Name] = ne
		}
		s.mu.Unlock()
	}
	return nil
}

// PostFilter runs when the pod fits nowhere. If an allocated claim of the
// pod could not be reached from some node and no other pod uses it, it is
// deallocated, so the next attempt may allocate it where the pod fits.
func (pl *DynamicResources) PostFilter(ctx context.Context, cs *framework.CycleState, pod *v1.Pod, _ framework.NodeToStatusReader) (*framework.PostFilterResult, *framework.Status) {
	s, err := getState(cs)
	if err != nil || len(s.claims) == 0 {
		return nil, framework.NewStatus(framework.Unschedulable)
	}
	s.mu.Lock()
	idx := sets.List(s.unavailable)
	s.mu.Unlock()
	ext := s.extClaim()
	stale := ext != nil && ext.Name != extendedClaimName
	for _, i := range idx {
		c := s.claims[i]
		if s.isExt(i) {
			if stale {
				break
			}
			continue
		}
		if len(c.Status.ReservedFor) > 1 || (len(c.Status.ReservedFor) == 1 && c.Status.ReservedFor[0].UID != pod.UID) {
			continue
		}
		c = c.DeepCopy()
		c.Status.ReservedFor = nil
		c.Status.Allocation = nil
		c.Status.Devices = nil
		klog.FromContext(ctx).V(3).Info("Deallocating claim the pod cannot use where it fits", "pod", klog.KObj(pod), "claim", klog.KObj(c))
		if _, err := pl.handle.ClientSet().ResourceV1().ResourceClaims(c.Namespace).UpdateStatus(ctx, c, metav1.UpdateOptions{}); err != nil {
			return nil, framework.AsStatus(fmt.Errorf("deallocating claim %s: %w", klog.KObj(c), err))
		}
		return nil, framework.NewStatus(framework.Unschedulable, "deallocation of ResourceClaim completed")
	}
	if stale {
		// The extended-resource claim of an earlier attempt: the next
		// attempt makes a new one.
		klog.FromContext(ctx).V(3).Info("Deleting the extended resource claim of an earlier attempt", "pod", klog.KObj(pod), "claim", klog.KObj(ext))
		if err := pl.deleteClaim(ctx, ext); err != nil {
			return nil, framework.AsStatus(err)
		}
		return nil, framework.NewStatus(framework.Unschedulable, "deletion of ResourceClaim completed")
	}
	return nil, framework.NewStatus(framework.Unschedulable)
}

// PreScore skips scoring for pods without claims: every node would score
// 0, and skipping saves a call per node.
func (pl *DynamicResources) PreScore(_ context.Context, cs *framework.CycleState, _ *v1.Pod, _ []*framework.NodeInfo) *framework.Status {
	s, err := getState(cs)
	if err != nil {
		return framework.AsStatus(err)
	}
	if len(s.claims) == 0 {
		return framework.NewStatus(framework.Skip)
	}
	return nil
}

// Score prefers nodes where the claims' prioritized lists (firstAvailable)
// were satisfied by earlier alternatives.
func (pl *DynamicResources) Score(_ context.Context, cs *framework.CycleState, _ *v1.Pod, ni *framework.NodeInfo) (int64, *framework.Status) {
	s, err := getState(cs)
	if err != nil {
		return 0, framework.AsStatus(err)
	}
	if len(s.claims) == 0 {
		return 0, nil
	}
	s.mu.Lock()
	results, ok := s.byNode[ni.Node().Name]
	s.mu.Unlock()
	if !ok {
		return 0, nil
	}
	var score int64
	next := 0
	for _, c := range s.claims {
		alloc := c.Status.Allocation
		if alloc == nil {
			if next >= len(results) {
				return 0, framework.AsStatus(fmt.Errorf("%d allocations for more claims to allocate", len(results)))
			}
			alloc = &results[next]
			next++
		}
		chosen := sets.New[string]()
		for _, r := range alloc.Devices.Results {
			if resourceclaim.IsSubRequestRef(r.Request) {
				chosen.Insert(r.Request)
			}
		}
		for _, req := range c.Spec.Devices.Requests {
			for rank, sub := range req.FirstAvailable {
				if chosen.Has(resourceclaim.CreateSubRequestRef(req.Name, sub.Name)) {
					score += int64(resourceapi.FirstAvailableDeviceRequestMaxSize - rank)
				}
			}
		}
	}
	return score, nil
}

// ScoreExtensions scales scores to [0, 100].
func (pl *DynamicResources) ScoreExtensions() framework.ScoreExtensions { return pl }

// NormalizeScore scales the best node to MaxNodeScore.
func (pl *DynamicResources) NormalizeScore(_ context.Context, _ *framework.CycleState, _ *v1.Pod, scores framework.NodeScoreList) *framework.Status {
	pluginutil.NormalizeScores(framework.MaxNodeScore, false, scores)
	return nil
}

// ExplainFailure names, for a pod that fits nowhere, each claim that no
// node can satisfy and why: no device matches its requests anywhere, or
// every matching device is allocated.
func (pl *DynamicResources) ExplainFailure(cs *framework.CycleState, pod *v1.Pod) string {
	s, err := getState(cs)
	if err != nil || s.allocator == nil {
		return ""
	}
	lister := pl.handle.SnapshotSharedLister()
	if lister == nil {
		return ""
	}
	nodes := lister.NodeInfos().List()
	slices, err := pl.slices.ListPatchedResourceSlices()
	if err != nil {
		return ""
	}
	ctx := context.Background()
	fits := func(alloc structured.Allocator, c *resourceapi.ResourceClaim) bool {
		for _, ni := range nodes {
			if res, err := alloc.Allocate(ctx, ni.Node(), []*resourceapi.ResourceClaim{c}); err == nil && len(res) == 1 {
				return true
			}
		}
		return false
	}
	empty, err := structured.NewAllocator(ctx, Features, structured.AllocatedState{
		AllocatedDevices:         sets.New[structured.DeviceID](),
		AllocatedSharedDeviceIDs: sets.New[structured.SharedDeviceID](),
		AggregatedCapacity:       structured.NewConsumedCapacityCollection(),
	}, classLister{pl.classes}, slices, pl.celCache)
	if err != nil {
		return ""
	}
	var parts []string
	for _, i := range s.toAllocate() {
		c := s.claims[i]
		if s.isExt(i) {
			// Its requests depend on the node.
			continue
		}
		switch {
		case !fits(empty, c):
			parts = append(parts, fmt.Sprintf("claim %q (%s): no node has devices that satisfy it", s.podClaimNames[i]+"="+c.Name, describeRequests(c)))
		case !fits(s.allocator, c):
			parts = append(parts, fmt.Sprintf("claim %q (%s): every matching device is allocated", s.podClaimNames[i]+"="+c.Name, describeRequests(c)))
		}
	}
	if len(parts) == 0 && len(s.toAllocate()) > 1 && s.numUser > 0 {
		parts = append(parts, "each claim fits some node, but no node fits all of them together")
	}
	sort.Strings(parts)
	return strings.Join(parts, "; ")
}

// describeRequests summarises a claim's requests: "1 of class gpu".
func describeRequests(c *resourceapi.ResourceClaim) string {
	var out []string
	for _, r := range c.Spec.Devices.Requests {
		switch {
		case r.Exactly != nil:
			out = append(out, fmt.Sprintf("request %s: %s of class %s%s", r.Name, countOf(r.Exactly.AllocationMode, r.Exactly.Count), r.Exactly.DeviceClassName, selectorNote(len(r.Exactly.Selectors))))
		case len(r.FirstAvailable) > 0:
			var alts []string
			for _, sub := range r.FirstAvailable {
				alts = append(alts, fmt.Sprintf("%s of class %s%s", countOf(sub.AllocationMode, sub.Count), sub.DeviceClassName, selectorNote(len(sub.Selectors))))
			}
			out = append(out, fmt.Sprintf("request %s: first of [%s]", r.Name, strings.Join(alts, ", ")))
		}
	}
	return strings.Join(out, "; ")
}

func countOf(mode resourceapi.DeviceAllocationMode, n int64) string {
	if mode == resourceapi.DeviceAllocationModeAll {
		return "all devices"
	}
	if n == 0 {
		n = 1
	}
	return fmt.Sprintf("%d device(s)", n)
}

func selectorNote(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(" with %d selector(s)", n)
}
