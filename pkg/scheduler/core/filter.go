package core

import (
	"context"

	v1 "k8s.io/api/core/v1"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"

	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/scheduler/profile"
)

// Nominator is what the core needs to know of nominated pods: the pods
// nominated to a node, and a cheap check that there are none at all (the
// common case, in which the memo may be used and no node is cloned).
type Nominator interface {
	framework.PodNominator
	// Empty reports whether no pod is nominated to any node.
	Empty() bool
}

// nodeFilter runs the (non-skipped) filters of one cycle on one node.
type nodeFilter func(ctx context.Context, pod *v1.Pod, ni *framework.NodeInfo) *framework.Status

// FilterNode runs prof's Filter plugins for pod on nodeInfo, honouring the
// node's nominated pods as kube-scheduler does. It is the only way berth
// filters a node: the scheduling cycle, preemption's what-if and the test
// helpers all call it.
//
// Pods nominated to the node with priority >= the pod's are first added (to
// a clone of the node and, through the PreFilter AddPod extensions, to a
// clone of the state) and the filters run; if they pass, the filters run
// again on the node as it is. Both runs must pass: the first keeps the room
// preemption freed for higher-priority nominees, the second guards filters
// (like inter-pod affinity) that a nominee might satisfy only by being
// there, which it is not yet. When no pod qualifies only the plain run
// happens. nom may be nil.
func FilterNode(ctx context.Context, prof *profile.Profile, nom framework.PodNominator, state *framework.CycleState, pod *v1.Pod, nodeInfo *framework.NodeInfo) *framework.Status {
	return FilterRunner{Profile: prof, Nominator: nom}.RunFilterPluginsWithNominatedPods(ctx, state, pod, nodeInfo)
}

func filterNode(ctx context.Context, prof *profile.Profile, run nodeFilter, nom framework.PodNominator, state *framework.CycleState, pod *v1.Pod, nodeInfo *framework.NodeInfo) *framework.Status {
	if nom == nil || nodeInfo.Node() == nil {
		return run(ctx, pod, nodeInfo)
	}
	if n, ok := nom.(Nominator); ok && n.Empty() {
		return run(ctx, pod, nodeInfo)
	}
	nominated := nom.NominatedPodsForNode(nodeInfo.Node().Name)
	if len(nominated) > 0 {
		added, stateWith, nodeWith, st := addNominatedPods(ctx, prof, nominated, state, pod, nodeInfo)
		if st != nil {
			return st
		}
		if added {
			if st := prof.RunFilterPlugins(ctx, stateWith, pod, nodeWith); !st.IsSuccess() {
				return st
			}
		}
	}
	return run(ctx, pod, nodeInfo)
}

// addNominatedPods returns clones of state and nodeInfo with the nominated
// pods of priority >= pod's added, or added=false (and the originals) when
// none qualifies.
func addNominatedPods(ctx context.Context, prof *profile.Profile, nominated []*framework.PodInfo, state *framework.CycleState, pod *v1.Pod, nodeInfo *framework.NodeInfo) (bool, *framework.CycleState, *framework.NodeInfo, *framework.Status) {
	prio := corev1helpers.PodPriority(pod)
	var stateOut *framework.CycleState
	var nodeOut *framework.NodeInfo
	for _, pi := range nominated {
		if pi.Pod.UID == pod.UID || corev1helpers.PodPriority(pi.Pod) < prio {
			continue
		}
		if nodeOut == nil {
			stateOut, nodeOut = state.Clone(), nodeInfo.Clone()
		}
		nodeOut.AddPodInfo(pi)
		if st := prof.RunPreFilterExtensionAddPod(ctx, stateOut, pod, pi, nodeOut); !st.IsSuccess() {
			// A failing extension is a plugin error, not a verdict.
			return false, state, nodeInfo, framework.NewStatus(framework.Error, st.Message()).WithPlugin(st.Plugin())
		}
	}
	if nodeOut == nil {
		return false, state, nodeInfo, nil
	}
	return true, stateOut, nodeOut, nil
}

// FilterRunner is framework.FilterRunner over a profile and a nominator:
// what preemption uses to ask "would the pod fit if these pods were gone".
type FilterRunner struct {
	Profile   *profile.Profile
	Nominator framework.PodNominator
}

var _ framework.FilterRunner = FilterRunner{}

// RunPreFilterExtensionAddPod implements framework.FilterRunner.
func (r FilterRunner) RunPreFilterExtensionAddPod(ctx context.Context, state *framework.CycleState, pod *v1.Pod, podToAdd *framework.PodInfo, nodeInfo *framework.NodeInfo) *framework.Status {
	return r.Profile.RunPreFilterExtensionAddPod(ctx, state, pod, podToAdd, nodeInfo)
}

// RunPreFilterExtensionRemovePod implements framework.FilterRunner.
func (r FilterRunner) RunPreFilterExtensionRemovePod(ctx context.Context, state *framework.CycleState, pod *v1.Pod, podToRemove *framework.PodInfo, nodeInfo *framework.NodeInfo) *framework.Status {
	return r.Profile.RunPreFilterExtensionRemovePod(ctx, state, pod, podToRemove, nodeInfo)
}

// RunFilterPluginsWithNominatedPods implements framework.FilterRunner.
func (r FilterRunner) RunFilterPluginsWithNominatedPods(ctx context.Context, state *framework.CycleState, pod *v1.Pod, nodeInfo *framework.NodeInfo) *framework.Status {
	return filterNode(ctx, r.Profile, func(ctx context.Context, pod *v1.Pod, ni *framework.NodeInfo) *framework.Status {
		return r.Profile.RunFilterPlugins(ctx, state, pod, ni)
	}, r.Nominator, state, pod, nodeInfo)
}
