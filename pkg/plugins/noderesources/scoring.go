package noderesources

import (
	"fmt"
	"math"
	"sync"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	resourcehelper "k8s.io/component-helpers/resource"
	configv1 "k8s.io/kube-scheduler/config/v1"

	"github.com/berthsched/berth/pkg/framework"

	"github.com/berthsched/berth/pkg/plugins/internal/pluginutil"
)

// vectorScore turns per-resource vectors, indexed like the configured
// resources, into a node score in [MinNodeScore, MaxNodeScore]. requested
// includes the incoming pod, allocated does not; a zero allocatable marks a
// resource the node does not offer (or the pod does not use), which every
// strategy leaves out.
type vectorScore func(requested, allocated, allocatable []int64) int64

// resourceScorer is the part both plugins share: which resources to look at,
// how to read the pod's and the node's amounts of them, and the strategy
// that turns those into a score.
type resourceScorer struct {
	resources []configv1.ResourceSpec
	// useRequested makes cpu and memory count as requested. Otherwise (Fit's
	// strategies) a container without a cpu or memory request counts as the
	// framework defaults, so best-effort pods still weigh on a node's score.
	useRequested bool
	// skipPodLevel ignores the incoming pod's pod-level resources
	// (spec.resources). kube-scheduler v1.37's Fit scorer never turns
	// pod-level resources on (only BalancedAllocation does), and berth
	// scores exactly as it does; the filter always honours them.
	skipPodLevel bool
	score        vectorScore
}

// podRequests returns the pod's request for each configured resource. The
// options match kube-scheduler's scorer: status resources are considered
// (in-place resize is GA), which for a pod not yet running equals its spec.
func (r *resourceScorer) podRequests(pod *v1.Pod) []int64 {
	opts := resourcehelper.PodResourcesOptions{
		UseStatusResources: true,
		InPlacePodLevelResourcesVerticalScalingEnabled: true,
		SkipPodLevelResources:                          r.skipPodLevel,
	}
	if !r.useRequested {
		opts.NonMissingContainerRequests = v1.ResourceList{
			v1.ResourceCPU:    *resource.NewMilliQuantity(framework.DefaultMilliCPURequest, resource.DecimalSI),
			v1.ResourceMemory: *resource.NewQuantity(framework.DefaultMemoryRequest, resource.DecimalSI),
		}
	}
	rl := resourcehelper.PodRequests(pod, opts)
	out := make([]int64, len(r.resources))
	for i, spec := range r.resources {
		q, ok := rl[v1.ResourceName(spec.Name)]
		if !ok {
			continue
		}
		if spec.Name == string(v1.ResourceCPU) {
			out[i] = q.MilliValue()
		} else {
			out[i] = q.Value()
		}
	}
	return out
}

// scratchPool holds the per-node scratch vectors of scoreNode.
var scratchPool = sync.Pool{New: func() any { b := make([]int64, 0, 24); return &b }}

// scoreNode scores one node for a pod whose per-resource requests were
// computed by podRequests.
func (r *resourceScorer) scoreNode(ni *framework.NodeInfo, podReqs []int64) (int64, *framework.Status) {
	if len(r.resources) == 0 {
		return 0, framework.NewStatus(framework.Error, "resources not found")
	}
	n := len(r.resources)
	// Scoring runs for every node of every pod: reuse the scratch
	// vectors instead of allocating three per node.
	bp := scratchPool.Get().(*[]int64)
	defer scratchPool.Put(bp)
	if cap(*bp) < 3*n {
		*bp = make([]int64, 3*n)
	}
	buf := (*bp)[:3*n]
	clear(buf)
	requested, allocated, allocatable := buf[:n:n], buf[n:2*n:2*n], buf[2*n:]
	for i, spec := range r.resources {
		name := v1.ResourceName(spec.Name)
		// A scalar resource the pod does not ask for says nothing about
		// how well the pod fits; leaving it out keeps GPU nodes from
		// looking "empty" to a cpu-only pod.
		if podReqs[i] == 0 && framework.IsScalarResourceName(name) {
			continue
		}
		capacity, used := r.nodeAmounts(ni, name)
		if capacity == 0 {
			continue
		}
		allocatable[i] = capacity
		allocated[i] = used
		requested[i] = used + podReqs[i]
	}
	return r.score(requested, allocated, allocatable), nil
}

// nodeAmounts returns the node's allocatable and already-requested amount of
// one resource; (0, 0) when the node does not offer it. Only cpu and memory
// use the non-zero view, as kube-scheduler does; ephemeral storage and
// scalar resources always use real requests.
func (r *resourceScorer) nodeAmounts(ni *framework.NodeInfo, name v1.ResourceName) (allocatable, requested int64) {
	used := ni.NonZeroRequested
	if r.useRequested {
		used = ni.Requested
	}
	switch name {
	case v1.ResourceCPU:
		return ni.Allocatable.MilliCPU, used.MilliCPU
	case v1.ResourceMemory:
		return ni.Allocatable.Memory, used.Memory
	case v1.ResourceEphemeralStorage:
		return ni.Allocatable.EphemeralStorage, ni.Requested.EphemeralStorage
	}
	// Anything else, including "pods", is looked up among the scalar
	// resources only, so a name the node does not list is ignored.
	if a, ok := ni.Allocatable.ScalarResources[name]; ok {
		return a, ni.Requested.ScalarResources[name]
	}
	return 0, 0
}

// newFitScorer builds the scorer of a (validated) Fit scoring strategy.
func newFitScorer(s *configv1.ScoringStrategy) (*resourceScorer, error) {
	if s == nil {
		return nil, fmt.Errorf("scoring strategy not specified")
	}
	r := &resourceScorer{resources: s.Resources, skipPodLevel: true}
	switch s.Type {
	case configv1.LeastAllocated:
		r.score = weightedScore(s.Resources, leastAllocated)
	case configv1.MostAllocated:
		r.score = weightedScore(s.Resources, mostAllocated)
	case configv1.RequestedToCapacityRatio:
		if s.RequestedToCapacityRatio == nil {
			return nil, fmt.Errorf("scoring strategy %s needs a shape", s.Type)
		}
		r.score = requestedToCapacityRatio(s.Resources, s.RequestedToCapacityRatio.Shape)
	default:
		return nil, fmt.Errorf("scoring strategy %s is not supported", s.Type)
	}
	return r, nil
}

// weightedScore is the weighted mean (integer division) of a per-resource
// score over the resources the node offers.
func weightedScore(resources []configv1.ResourceSpec, perResource func(requested, capacity int64) int64) vectorScore {
	return func(requested, _, allocatable []int64) int64 {
		var sum, weights int64
		for i := range requested {
			if allocatable[i] == 0 {
				continue
			}
			w := resources[i].Weight
			sum += perResource(requested[i], allocatable[i]) * w
			weights += w
		}
		if weights == 0 {
			return 0
		}
		return sum / weights
	}
}

// leastAllocated favours the node with the most room left: the free share
// of capacity after placing the pod, 0 when it would be overcommitted.
func leastAllocated(requested, capacity int64) int64 {
	if capacity == 0 || requested > capacity {
		return 0
	}
	return (capacity - requested) * framework.MaxNodeScore / capacity
}

// mostAllocated favours the fullest node (bin-packing): the used share of
// capacity after placing the pod, capped at full.
func mostAllocated(requested, capacity int64) int64 {
	if capacity == 0 {
		return 0
	}
	requested = min(requested, capacity)
	return requested * framework.MaxNodeScore / capacity
}

// requestedToCapacityRatio scores each resource's utilisation (in percent,
// after placing the pod) on the user's piecewise-linear shape, whose scores
// (0..MaxShapeScore) are scaled to 0..MaxNodeScore, then takes the rounded
// weighted mean over the resources that scored above zero.
func requestedToCapacityRatio(resources []configv1.ResourceSpec, shape []configv1.UtilizationShapePoint) vectorScore {
	pts := pluginutil.NewShape(shape)
	const full = 100 // utilisation of an overcommitted or absent resource
	perResource := func(requested, capacity int64) int64 {
		if capacity == 0 || requested > capacity {
			return pts.At(full)
		}
		return pts.At(requested * full / capacity)
	}
	return func(requested, _, allocatable []int64) int64 {
		var sum, weights int64
		for i := range requested {
			if allocatable[i] == 0 {
				continue
			}
			w := resources[i].Weight
			if s := perResource(requested[i], allocatable[i]); s > 0 {
				sum += s * w
				weights += w
			}
		}
		if weights == 0 {
			return 0
		}
		return int64(math.Round(float64(sum) / float64(weights)))
	}
}
