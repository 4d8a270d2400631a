package framework

import (
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
	resourcehelper "k8s.io/component-helpers/resource"
)

// Defaults the scorers assume for a container that requests nothing, so that
// best-effort pods still count when nodes are compared (kube-scheduler uses the
// same values; without them a node full of best-effort pods looks empty).
const (
	DefaultMilliCPURequest int64 = 100
	DefaultMemoryRequest   int64 = 200 * 1024 * 1024
)

// Resource is a flat, integer view of a resource list: cheap to add and
// compare in the hot path. CPU is in millicores, everything else in units.
type Resource struct {
	MilliCPU         int64
	Memory           int64
	EphemeralStorage int64
	// AllowedPodNumber is only meaningful for allocatable (the pods resource).
	AllowedPodNumber int64
	// ScalarResources holds extended resources and hugepages.
	ScalarResources map[v1.ResourceName]int64
}

// NewResource converts a ResourceList.
func NewResource(rl v1.ResourceList) *Resource {
	r := &Resource{}
	r.Add(rl)
	return r
}

// Add adds every quantity of rl.
func (r *Resource) Add(rl v1.ResourceList) {
	for name, q := range rl {
		switch name {
		case v1.ResourceCPU:
			r.MilliCPU += q.MilliValue()
		case v1.ResourceMemory:
			r.Memory += q.Value()
		case v1.ResourceEphemeralStorage:
			r.EphemeralStorage += q.Value()
		case v1.ResourcePods:
			r.AllowedPodNumber += q.Value()
		default:
			if IsScalarResourceName(name) {
				r.AddScalar(name, q.Value())
			}
		}
	}
}

// AddResource adds o to r.
func (r *Resource) AddResource(o *Resource) {
	r.MilliCPU += o.MilliCPU
	r.Memory += o.Memory
	r.EphemeralStorage += o.EphemeralStorage
	r.AllowedPodNumber += o.AllowedPodNumber
	for k, v := range o.ScalarResources {
		r.AddScalar(k, v)
	}
}

// SubResource subtracts o from r.
func (r *Resource) SubResource(o *Resource) {
	r.MilliCPU -= o.MilliCPU
	r.Memory -= o.Memory
	r.EphemeralStorage -= o.EphemeralStorage
	r.AllowedPodNumber -= o.AllowedPodNumber
	for k, v := range o.ScalarResources {
		r.AddScalar(k, -v)
	}
}

// AddScalar adds q of an extended resource.
func (r *Resource) AddScalar(name v1.ResourceName, q int64) {
	if r.ScalarResources == nil {
		r.ScalarResources = make(map[v1.ResourceName]int64)
	}
	r.ScalarResources[name] += q
}

// SetScalar sets an extended resource.
func (r *Resource) SetScalar(name v1.ResourceName, q int64) {
	if r.ScalarResources == nil {
		r.ScalarResources = make(map[v1.ResourceName]int64)
	}
	r.ScalarResources[name] = q
}

// Clone deep-copies r.
func (r *Resource) Clone() *Resource {
	out := *r
	if r.ScalarResources != nil {
		out.ScalarResources = make(map[v1.ResourceName]int64, len(r.ScalarResources))
		for k, v := range r.ScalarResources {
			out.ScalarResources[k] = v
		}
	}
	return &out
}

// Get returns the amount of one resource by name.
func (r *Resource) Get(name v1.ResourceName) int64 {
	switch name {
	case v1.ResourceCPU:
		return r.MilliCPU
	case v1.ResourceMemory:
		return r.Memory
	case v1.ResourceEphemeralStorage:
		return r.EphemeralStorage
	case v1.ResourcePods:
		return r.AllowedPodNumber
	default:
		return r.ScalarResources[name]
	}
}

// IsScalarResourceName reports whether name is tracked in ScalarResources:
// extended resources (vendor-qualified, e.g. nvidia.com/gpu), hugepages,
// prefixed native resources (*kubernetes.io/...) and attachable-volume
// counts. This mirrors the set kube-scheduler tracks, so NodeResourcesFit
// reaches the same verdicts.
func IsScalarResourceName(name v1.ResourceName) bool {
	s := string(name)
	return isExtendedResourceName(name) ||
		strings.HasPrefix(s, v1.ResourceHugePagesPrefix) ||
		strings.Contains(s, v1.ResourceDefaultNamespacePrefix) ||
		strings.HasPrefix(s, v1.ResourceAttachableVolumesPrefix)
}

// isExtendedResourceName: not native (has a slash and is not in the
// kubernetes.io namespace), not a quota "requests." name, and valid as a
// qualified name once prefixed with "requests.".
func isExtendedResourceName(name v1.ResourceName) bool {
	s := string(name)
	if !strings.Contains(s, "/") || strings.Contains(s, v1.ResourceDefaultNamespacePrefix) {
		return false
	}
	if strings.HasPrefix(s, v1.DefaultResourceRequestsPrefix) {
		return false
	}
	return len(validation.IsQualifiedName(v1.DefaultResourceRequestsPrefix+s)) == 0
}

// requestOptions are the options kube-scheduler v1.37 uses with its
// default feature gates: in-place resize is GA, so a running pod counts
// with the larger of its spec and its actual resources.
var requestOptions = resourcehelper.PodResourcesOptions{
	UseStatusResources: true,
	InPlacePodLevelResourcesVerticalScalingEnabled: true,
}

// PodRequests returns what the scheduler accounts for a pod: the effective
// requests of its containers, init and sidecar containers, pod-level
// resources and overhead, as computed by component-helpers.
func PodRequests(pod *v1.Pod) *Resource {
	return NewResource(resourcehelper.PodRequests(pod, requestOptions))
}

// PodNonZeroRequests is the scorers' view of a pod's cpu and memory: a
// container without a cpu or memory request counts as
// DefaultMilliCPURequest / DefaultMemoryRequest, so best-effort pods still
// weigh on a node. When the pod sets pod-level requests, the defaults only
// fill in cpu or memory that is missing from the pod's requests altogether
// (as kube-scheduler does). Filters use the real requests.
func PodNonZeroRequests(pod *v1.Pod) *Resource {
	return podNonZeroRequests(pod, resourcehelper.PodRequests(pod, requestOptions))
}

func podNonZeroRequests(pod *v1.Pod, requests v1.ResourceList) *Resource {
	defaults := v1.ResourceList{}
	podLevel := resourcehelper.IsPodLevelRequestsSet(pod)
	if _, ok := requests[v1.ResourceCPU]; !podLevel || !ok {
		defaults[v1.ResourceCPU] = *resource.NewMilliQuantity(DefaultMilliCPURequest, resource.DecimalSI)
	}
	if _, ok := requests[v1.ResourceMemory]; !podLevel || !ok {
		defaults[v1.ResourceMemory] = *resource.NewQuantity(DefaultMemoryRequest, resource.BinarySI)
	}
	rl := requests
	if len(defaults) > 0 {
		opts := requestOptions
		opts.NonMissingContainerRequests = defaults
		rl = resourcehelper.PodRequests(pod, opts)
	}
	return &Resource{MilliCPU: rl.Cpu().MilliValue(), Memory: rl.Memory().Value()}
}
