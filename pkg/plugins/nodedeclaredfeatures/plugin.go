package nodedeclaredfeatures

import (
	"context"
	"fmt"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/version"
	ndf "k8s.io/component-helpers/nodedeclaredfeatures"

	"github.com/berthsched/berth/pkg/framework"
)

const (
	// Name is the plugin's name in the registry and in configurations,
	// the same as kube-scheduler's.
	Name = "NodeDeclaredFeatures"
	// ErrReasonUnsatisfiedRequirements is the rejection reason, identical
	// to kube-scheduler's so that diagnoses and events read the same.
	ErrReasonUnsatisfiedRequirements = "node(s) didn't match Pod's required features"

	preFilterStateKey framework.StateKey = "PreFilter" + Name
)

// NodeDeclaredFeatures rejects nodes that lack a feature the pod's spec
// needs. It holds no per-cluster state: everything it reads is the pod and
// the node's status.declaredFeatures.
type NodeDeclaredFeatures struct {
	// features is the library's feature registry and name-to-bit mapper.
	features *ndf.Framework
	// target is the Kubernetes version requirements are inferred for.
	target *version.Version
}

var (
	_ framework.PreFilterPlugin      = (*NodeDeclaredFeatures)(nil)
	_ framework.FilterPlugin         = (*NodeDeclaredFeatures)(nil)
	_ framework.EnqueueExtensions    = (*NodeDeclaredFeatures)(nil)
	_ framework.NodeLocalPlugin      = (*NodeDeclaredFeatures)(nil)
	_ framework.SignatureContributor = (*NodeDeclaredFeatures)(nil)
)

// New builds the plugin over the library's default feature registry. It
// takes no arguments. kube-scheduler v1.37 has the plugin on
// unconditionally (its NodeDeclaredFeatures gate is GA and locked on), so
// there is no disabled mode.
func New(_ context.Context, args runtime.Object, _ framework.Handle) (framework.Plugin, error) {
	if args != nil {
		return nil, fmt.Errorf("plugin %s takes no args, got %T", Name, args)
	}
	return newPlugin(ndf.DefaultFramework, targetVersion), nil
}

// newPlugin lets tests substitute a registry of fake features or another
// target version.
func newPlugin(features *ndf.Framework, target *version.Version) *NodeDeclaredFeatures {
	return &NodeDeclaredFeatures{features: features, target: target}
}

// Name returns the plugin's name.
func (*NodeDeclaredFeatures) Name() string { return Name }

// preFilterState holds the pod's required features for Filter. It is
// written once in PreFilter and only read afterwards, so clones share it.
type preFilterState struct {
	required ndf.FeatureSet
}

// Clone returns the state itself; it is never modified after PreFilter.
func (s *preFilterState) Clone() framework.StateData { return s }

// requirements returns the features the pod's spec needs. Only the spec is
// given to the library, as kube-scheduler does: a pending pod has no status
// worth reading.
func (pl *NodeDeclaredFeatures) requirements(pod *v1.Pod) (ndf.FeatureSet, error) {
	return pl.features.InferForPodScheduling(&ndf.PodInfo{Spec: &pod.Spec}, pl.target)
}

// PreFilter infers the pod's required features once per cycle. A pod that
// needs none (almost every pod) gets Skip, so Filter never runs for it.
//
// kube-scheduler also skips pods whose in-place resize is deferred, but only
// under the alpha InPlacePodVerticalScalingSchedulerPreemption gate, off by
// default in v1.37; berth, like the default kube-scheduler, does not.
func (pl *NodeDeclaredFeatures) PreFilter(_ context.Context, state *framework.CycleState, pod *v1.Pod, _ []*framework.NodeInfo) (*framework.PreFilterResult, *framework.Status) {
	required, err := pl.requirements(pod)
	if err != nil {
		return nil, framework.AsStatus(err)
	}
	if required.IsEmpty() {
		return nil, framework.NewStatus(framework.Skip)
	}
	state.Write(preFilterStateKey, &preFilterState{required: required})
	return nil, nil
}

// PreFilterExtensions returns nil: the requirements do not depend on other
// pods, so preemption has nothing to update.
func (*NodeDeclaredFeatures) PreFilterExtensions() framework.PreFilterExtensions { return nil }

// Filter rejects the node unless it declares every required feature. The
// verdict is UnschedulableAndUnresolvable because evicting pods never adds
// a feature to a node; only a kubelet upgrade or reconfiguration does.
//
// Names the library does not know are ignored on the node's side: a newer
// kubelet may declare features this scheduler has never heard of, and no
// pod can need those. Like kube-scheduler, Filter needs PreFilter's state
// and fails with an Error when a profile disabled PreFilter alone.
func (pl *NodeDeclaredFeatures) Filter(_ context.Context, state *framework.CycleState, _ *v1.Pod, nodeInfo *framework.NodeInfo) *framework.Status {
	s, err := framework.ReadState[*preFilterState](state, preFilterStateKey)
	if err != nil {
		return framework.AsStatus(err)
	}
	var declared []string
	if node := nodeInfo.Node(); node != nil {
		declared = node.Status.DeclaredFeatures
	}
	// Mapping here rather than caching the set on NodeInfo costs a small
	// allocation per node, but only for the rare pods that need a feature.
	ok, err := s.required.IsSubset(pl.features.TryMap(declared))
	if err != nil {
		return framework.AsStatus(err)
	}
	if !ok {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonUnsatisfiedRequirements)
	}
	return nil
}

// NodeLocal implements framework.NodeLocalPlugin: the verdict for a node
// depends only on the pod's spec and that node's declared features, so the
// engine may reuse it for equivalent pods until the node changes.
func (*NodeDeclaredFeatures) NodeLocal() bool { return true }

// SignatureFragment implements framework.SignatureContributor. The fields
// the library infers from (hostUsers, container restart rules, bind mount
// options …) are outside the engine's equivalence signature, so two pods
// differing only there must not share a memoised verdict. The inferred
// requirements are exactly what the verdict depends on, which keeps pods
// that differ in irrelevant ways equivalent.
func (pl *NodeDeclaredFeatures) SignatureFragment(pod *v1.Pod) string {
	required, err := pl.requirements(pod)
	if err != nil {
		// Cannot happen with a non-nil target; a fragment no requirement
		// set produces keeps such a pod apart from the others.
		return "error: " + err.Error()
	}
	names, err := pl.features.Unmap(required)
	if err != nil {
		return "error: " + err.Error()
	}
	return strings.Join(names, ",")
}
