package scheduler

import (
	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/scheduler/core"
	"github.com/berthsched/berth/pkg/scheduler/profile"
)

// preemption is the engine's framework.Preemption for one profile: the
// nominator, the profile's filters and the preemption metrics. prof is set
// once profile.New returns (plugins only reach it at PostFilter time).
type preemption struct {
	nom     *nominator
	metrics framework.PreemptionMetrics
	prof    *profile.Profile
}

var _ framework.Preemption = (*preemption)(nil)

// NominatedPodsForNode implements framework.PodNominator.
func (p *preemption) NominatedPodsForNode(nodeName string) []*framework.PodInfo {
	return p.nom.NominatedPodsForNode(nodeName)
}

// FilterRunner implements framework.Preemption.
func (p *preemption) FilterRunner() framework.FilterRunner {
	return core.FilterRunner{Profile: p.prof, Nominator: p.nom}
}

// PreemptionMetrics implements framework.Preemption.
func (p *preemption) PreemptionMetrics() framework.PreemptionMetrics { return p.metrics }
