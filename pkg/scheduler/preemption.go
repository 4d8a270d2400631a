package scheduler

import (
	v1 "k8s.io/api/core/v1"

	"github.com/berthsched/berth/pkg/framework"
	schedcache "github.com/berthsched/berth/pkg/scheduler/cache"
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
	// cache finds the node of members assumed but not yet bound.
	cache *schedcache.Cache
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

// GangOf implements framework.Preemption: the pod's gang's bound and
// binding members, through the profile's group plugin, when the gang has
// a minimum above one.
func (p *preemption) GangOf(pod *v1.Pod) []*v1.Pod {
	gp := p.prof.GroupPlugin()
	if gp == nil || gp.GroupKey(pod) == "" {
		return nil
	}
	g, st := gp.PodGroup(pod)
	if !st.IsSuccess() || g == nil || g.MinMember <= 1 {
		return nil
	}
	var out []*v1.Pod
	for _, m := range gp.Members(g.Key) {
		if m.Spec.NodeName != "" || m.UID == pod.UID {
			out = append(out, m)
		} else if cached, err := p.cache.GetPod(m); err == nil && cached.Spec.NodeName != "" {
			out = append(out, cached)
		}
	}
	return out
}
