package noderesources

import (
	"context"
	"fmt"
	"slices"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	configv1 "k8s.io/kube-scheduler/config/v1"

	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/plugins/internal/draextended"
)

// Name is NodeResourcesFit's name in profiles, registries and statuses; it
// is kube-scheduler's name so configurations carry over unchanged.
const Name = "NodeResourcesFit"

// Filter reasons. They are kube-scheduler's strings exactly, because users
// and tools (cluster autoscaler, dashboards) match on them, and the engine
// counts them across nodes in the pod's diagnosis. Scalar resources get
// InsufficientReason(name).
const (
	ReasonTooManyPods                  = "Too many pods"
	ReasonInsufficientCPU              = "Insufficient cpu"
	ReasonInsufficientMemory           = "Insufficient memory"
	ReasonInsufficientEphemeralStorage = "Insufficient ephemeral-storage"
)

// InsufficientReason is the filter reason for a resource the node has too
// little of, e.g. "Insufficient example.com/foo".
func InsufficientReason(name v1.ResourceName) string {
	return "Insufficient " + string(name)
}

const (
	preFilterStateKey framework.StateKey = "PreFilter" + Name
	preScoreStateKey  framework.StateKey = "PreScore" + Name
)

var (
	_ framework.PreFilterPlugin   = (*Fit)(nil)
	_ framework.FilterPlugin      = (*Fit)(nil)
	_ framework.PreScorePlugin    = (*Fit)(nil)
	_ framework.ScorePlugin       = (*Fit)(nil)
	_ framework.EnqueueExtensions = (*Fit)(nil)
)

// Fit is the NodeResourcesFit plugin: a node is feasible only if its free
// allocatable holds the pod's requests, and feasible nodes are ranked by the
// configured scoring strategy. It holds no mutable state, so one instance
// serves concurrent Filter and Score calls.
type Fit struct {
	// ignoredResources and ignoredGroups name extended resources Filter
	// leaves to something else (a device plugin admission, an extender).
	ignoredResources sets.Set[string]
	ignoredGroups    sets.Set[string]
	scorer           *resourceScorer
	// dra tells which extended resources a DeviceClass backs (nil without
	// an informer factory): on a node that does not advertise such a
	// resource, Filter leaves it to DynamicResources, as kube-scheduler
	// v1.37 does with DRAExtendedResource.
	dra *draextended.Resolver
}

// NewFit builds the plugin; it is a framework.PluginFactory. nil args mean
// DefaultFitArgs(). Given args are defaulted (on a copy) and validated, and
// every problem is reported at once.
func NewFit(ctx context.Context, obj runtime.Object, h framework.Handle) (framework.Plugin, error) {
	args, err := fitArgs(obj)
	if err != nil {
		return nil, err
	}
	scorer, err := newFitScorer(args.ScoringStrategy)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", Name, err)
	}
	f := &Fit{
		ignoredResources: sets.New(args.IgnoredResources...),
		ignoredGroups:    sets.New(args.IgnoredResourceGroups...),
		scorer:           scorer,
	}
	if h != nil && h.SharedInformerFactory() != nil {
		if f.dra, err = draextended.ForFactory(ctx, h.SharedInformerFactory()); err != nil {
			return nil, fmt.Errorf("%s: %w", Name, err)
		}
	}
	return f, nil
}

// HasSynced reports whether the DeviceClasses' initial list reached the
// plugin's view of which extended resources DRA backs.
func (f *Fit) HasSynced() bool { return f.dra.HasSynced() }

func fitArgs(obj runtime.Object) (*configv1.NodeResourcesFitArgs, error) {
	if obj == nil {
		return DefaultFitArgs(), nil
	}
	args, ok := obj.(*configv1.NodeResourcesFitArgs)
	if !ok {
		return nil, fmt.Errorf("%s: want args of type *v1.NodeResourcesFitArgs, got %T", Name, obj)
	}
	if args == nil {
		return DefaultFitArgs(), nil
	}
	args = args.DeepCopy()
	SetDefaultsFitArgs(args)
	if errs := ValidateFitArgs(args, nil); len(errs) > 0 {
		return nil, fmt.Errorf("invalid %s args: %w", Name, errs.ToAggregate())
	}
	return args, nil
}

// Name implements framework.Plugin.
func (f *Fit) Name() string { return Name }

// preFilterState is the pod's requests, computed once per attempt. It is
// never modified after PreFilter, so Clone can share it.
type preFilterState struct {
	framework.Resource
	// draBacked holds the requested extended resources a DeviceClass
	// backs, read once in PreFilter so every node sees the same mapping.
	draBacked map[v1.ResourceName]bool
}

func (s *preFilterState) Clone() framework.StateData { return s }

// PreFilter computes the pod's effective requests (init containers,
// sidecars, overhead and pod-level resources included) once, so Filter,
// which runs for every node, only compares numbers.
func (f *Fit) PreFilter(_ context.Context, state *framework.CycleState, pod *v1.Pod, _ []*framework.NodeInfo) (*framework.PreFilterResult, *framework.Status) {
	s := &preFilterState{Resource: *framework.PodRequests(pod)}
	s.draBacked = f.backed(&s.Resource)
	state.Write(preFilterStateKey, s)
	return nil, nil
}

// backed returns the requested extended resources a DeviceClass backs,
// nil when there are none.
func (f *Fit) backed(req *framework.Resource) map[v1.ResourceName]bool {
	if f.dra == nil {
		return nil
	}
	var out map[v1.ResourceName]bool
	for name, q := range req.ScalarResources {
		if q > 0 && f.dra.Backed(name) {
			if out == nil {
				out = map[v1.ResourceName]bool{}
			}
			out[name] = true
		}
	}
	return out
}

// PreFilterExtensions returns nil: the state depends only on the pod, so
// adding or removing other pods during preemption changes nothing in it.
func (f *Fit) PreFilterExtensions() framework.PreFilterExtensions { return nil }

func readPreFilterState(state *framework.CycleState) (*preFilterState, error) {
	d, err := state.Read(preFilterStateKey)
	if err != nil {
		return nil, fmt.Errorf("reading %q from cycle state: %w", preFilterStateKey, err)
	}
	s, ok := d.(*preFilterState)
	if !ok {
		return nil, fmt.Errorf("%q in cycle state has type %T", preFilterStateKey, d)
	}
	return s, nil
}

// Filter rejects the node when it lacks room for the pod, with one reason
// per resource that is short. The code is UnschedulableAndUnresolvable when
// some request exceeds the node's whole allocatable (evicting pods cannot
// help, so preemption skips the node), otherwise Unschedulable.
func (f *Fit) Filter(_ context.Context, state *framework.CycleState, _ *v1.Pod, ni *framework.NodeInfo) *framework.Status {
	s, err := readPreFilterState(state)
	if err != nil {
		return framework.AsStatus(err)
	}
	if ni.Node() == nil {
		return framework.NewStatus(framework.Error, "node not found")
	}
	return insufficientStatus(fitsRequest(&s.Resource, ni, f.ignoredResources, f.ignoredGroups, s.draBacked))
}

func insufficientStatus(short []InsufficientResource) *framework.Status {
	if len(short) == 0 {
		return nil
	}
	code := framework.Unschedulable
	reasons := make([]string, len(short))
	for i, r := range short {
		reasons[i] = r.Reason
		if r.Unresolvable {
			code = framework.UnschedulableAndUnresolvable
		}
	}
	return framework.NewStatus(code, reasons...)
}

// InsufficientResource is one resource a node is short of for a pod, with
// the numbers behind the verdict (for explanations and autoscaler-style
// simulations).
type InsufficientResource struct {
	ResourceName v1.ResourceName
	// Reason is the filter reason string.
	Reason string
	// Requested is the pod's request; Used what the node's pods already
	// request; Capacity the node's allocatable.
	Requested, Used, Capacity int64
	// Unresolvable is set when Requested exceeds Capacity on its own, so no
	// eviction can make room.
	Unresolvable bool
}

// Fits reports what the node is short of to run pod, nothing when it fits.
// It ignores no resource; the plugin's Filter applies its configured ignore
// lists on top of the same check.
func Fits(pod *v1.Pod, ni *framework.NodeInfo) []InsufficientResource {
	return fitsRequest(framework.PodRequests(pod), ni, nil, nil, nil)
}

// fitsRequest compares the pod's requests with the node's free allocatable.
// The order of the result is fixed: pods, cpu, memory, ephemeral storage,
// then scalar resources by name. It allocates only when the pod does not
// fit, since it runs for every node of every attempt. A resource in
// draBacked is not checked on a node whose allocatable lacks it: DRA
// devices provide it there (DynamicResources checks them).
func fitsRequest(req *framework.Resource, ni *framework.NodeInfo, ignored, ignoredGroups sets.Set[string], draBacked map[v1.ResourceName]bool) []InsufficientResource {
	var out []InsufficientResource
	alloc, used := ni.Allocatable, ni.Requested

	if int64(len(ni.Pods))+1 > alloc.AllowedPodNumber {
		out = append(out, InsufficientResource{
			ResourceName: v1.ResourcePods, Reason: ReasonTooManyPods,
			Requested: 1, Used: int64(len(ni.Pods)), Capacity: alloc.AllowedPodNumber,
		})
	}
	if req.MilliCPU == 0 && req.Memory == 0 && req.EphemeralStorage == 0 && len(req.ScalarResources) == 0 {
		return out
	}
	check := func(name v1.ResourceName, reason string, want, capacity, inUse int64) {
		if want > 0 && want > capacity-inUse {
			out = append(out, InsufficientResource{
				ResourceName: name, Reason: reason,
				Requested: want, Used: inUse, Capacity: capacity,
				Unresolvable: want > capacity,
			})
		}
	}
	check(v1.ResourceCPU, ReasonInsufficientCPU, req.MilliCPU, alloc.MilliCPU, used.MilliCPU)
	check(v1.ResourceMemory, ReasonInsufficientMemory, req.Memory, alloc.Memory, used.Memory)
	check(v1.ResourceEphemeralStorage, ReasonInsufficientEphemeralStorage, req.EphemeralStorage, alloc.EphemeralStorage, used.EphemeralStorage)

	firstScalar := len(out)
	for name, want := range req.ScalarResources {
		if want <= 0 || isIgnored(name, ignored, ignoredGroups) {
			continue
		}
		capacity, inUse := alloc.ScalarResources[name], used.ScalarResources[name]
		if capacity <= 0 && draBacked[name] {
			continue
		}
		if want > capacity-inUse {
			out = append(out, InsufficientResource{
				ResourceName: name, Reason: InsufficientReason(name),
				Requested: want, Used: inUse, Capacity: capacity,
				Unresolvable: want > capacity,
			})
		}
	}
	// Map order is random; a stable order keeps statuses comparable.
	if len(out)-firstScalar > 1 {
		slices.SortFunc(out[firstScalar:], func(a, b InsufficientResource) int {
			return strings.Compare(string(a.ResourceName), string(b.ResourceName))
		})
	}
	return out
}

// isIgnored reports whether the plugin is configured to leave an extended
// resource alone, by full name or by its domain ("example.com" for
// "example.com/foo"). Native resources and hugepages are never ignored.
func isIgnored(name v1.ResourceName, ignored, ignoredGroups sets.Set[string]) bool {
	if ignored.Len() == 0 && ignoredGroups.Len() == 0 {
		return false
	}
	if !isExtendedResourceName(name) {
		return false
	}
	if ignored.Has(string(name)) {
		return true
	}
	group, _, _ := strings.Cut(string(name), "/")
	return ignoredGroups.Has(group)
}

// isExtendedResourceName follows the API's definition: a name outside the
// kubernetes.io namespace, with a domain, that is valid as a quota key.
func isExtendedResourceName(name v1.ResourceName) bool {
	s := string(name)
	if !strings.Contains(s, "/") || strings.Contains(s, v1.ResourceDefaultNamespacePrefix) ||
		strings.HasPrefix(s, v1.DefaultResourceRequestsPrefix) {
		return false
	}
	return len(validation.IsQualifiedName(v1.DefaultResourceRequestsPrefix+s)) == 0
}

// preScoreState is the pod's request for each scored resource, in the
// order of the strategy's resources. Read-only after PreScore.
type preScoreState struct {
	podRequests []int64
}

func (s *preScoreState) Clone() framework.StateData { return s }

// PreScore computes the pod's per-resource requests once for all nodes.
func (f *Fit) PreScore(_ context.Context, state *framework.CycleState, pod *v1.Pod, _ []*framework.NodeInfo) *framework.Status {
	state.Write(preScoreStateKey, &preScoreState{podRequests: f.scorer.podRequests(pod)})
	return nil
}

// Score ranks the node by the configured strategy. Scores are already in
// [MinNodeScore, MaxNodeScore]. Without PreScore state (a caller that skips
// PreScore, such as an extender) the requests are computed here.
func (f *Fit) Score(_ context.Context, state *framework.CycleState, pod *v1.Pod, ni *framework.NodeInfo) (int64, *framework.Status) {
	var reqs []int64
	if d, err := state.Read(preScoreStateKey); err == nil {
		if s, ok := d.(*preScoreState); ok {
			reqs = s.podRequests
		}
	}
	if reqs == nil {
		reqs = f.scorer.podRequests(pod)
	}
	return f.scorer.scoreNode(ni, reqs)
}

// ScoreExtensions returns nil: every strategy already yields 0..100.
func (f *Fit) ScoreExtensions() framework.ScoreExtensions { return nil }

var (
	_ framework.NodeLocalPlugin = (*Fit)(nil)
	_ framework.SyncedPlugin    = (*Fit)(nil)
)

// NodeLocal implements framework.NodeLocalPlugin: the verdict and raw score
// for a node depend only on the pod and that node, so the engine may reuse
// them for identical pods until the node changes.
// A DeviceClass backing a requested extended resource changes the verdict
// without changing the node, so SignatureFragment names those resources
// and their classes: pods seen under another mapping never share a
// memoised verdict. (Such pods run DynamicResources' Filter too, which is
// not node-local, so their verdicts are not memoised anyway.)
func (*Fit) NodeLocal() bool { return true }

var _ framework.SignatureContributor = (*Fit)(nil)

// SignatureFragment implements framework.SignatureContributor: the pod's
// requested extended resources a DeviceClass backs now, "" for none.
func (f *Fit) SignatureFragment(pod *v1.Pod) string {
	return strings.Join(f.dra.BackedRequests(pod), ",")
}
