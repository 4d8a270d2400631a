package scheduler

import (
	"context"

	v1 "k8s.io/api/core/v1"

	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/scheduler/profile"
)

// preemptionHandle is the engine's framework.PreemptionHandle: the plain
// handle plus the nominator, the profile's filters and the preemption
// metrics. One is built per profile; prof is set once profile.New returns
// (plugins only reach it at PostFilter time).
type preemptionHandle struct {
	*handle
	nom     *nominator
	metrics framework.PreemptionMetrics
	prof    *profile.Profile
}

var _ framework.PreemptionHandle = (*preemptionHandle)(nil)

// NominatedPodsForNode implements framework.PodNominator.
func (h *preemptionHandle) NominatedPodsForNode(nodeName string) []*framework.PodInfo {
	return h.nom.NominatedPodsForNode(nodeName)
}

// FilterRunner implements framework.PreemptionHandle.
func (h *preemptionHandle) FilterRunner() framework.FilterRunner {
	return profileFilterRunner{prof: h.prof, nom: h.nom}
}

// PreemptionMetrics implements framework.PreemptionHandle.
func (h *preemptionHandle) PreemptionMetrics() framework.PreemptionMetrics { return h.metrics }

// profileFilterRunner adapts a profile (plus the nominator) to
// framework.FilterRunner.
type profileFilterRunner struct {
	prof *profile.Profile
	nom  *nominator
}

func (r profileFilterRunner) RunPreFilterExtensionAddPod(ctx context.Context, state *framework.CycleState, pod *v1.Pod, podToAdd *framework.PodInfo, nodeInfo *framework.NodeInfo) *framework.Status {
	return r.prof.RunPreFilterExtensionAddPod(ctx, state, pod, podToAdd, nodeInfo)
}

func (r profileFilterRunner) RunPreFilterExtensionRemovePod(ctx context.Context, state *framework.CycleState, pod *v1.Pod, podToRemove *framework.PodInfo, nodeInfo *framework.NodeInfo) *framework.Status {
	return r.prof.RunPreFilterExtensionRemovePod(ctx, state, pod, podToRemove, nodeInfo)
}

func (r profileFilterRunner) RunFilterPluginsWithNominatedPods(ctx context.Context, state *framework.CycleState, pod *v1.Pod, nodeInfo *framework.NodeInfo) *framework.Status {
	return filterWithNominatedPods(ctx, r.prof, nil, r.nom, state, pod, nodeInfo)
}
