package scheduler

import (
	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/scheduler/core"
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
	return core.FilterRunner{Profile: h.prof, Nominator: h.nom}
}

// PreemptionMetrics implements framework.PreemptionHandle.
func (h *preemptionHandle) PreemptionMetrics() framework.PreemptionMetrics { return h.metrics }
