package st

import v1 "k8s.io/api/core/v1"

// PodLevelReq sets pod-level resource requests (spec.resources.requests),
// e.g. PodLevelReq("cpu", "2", "memory", "4Gi"). Only cpu, memory and
// hugepages are honoured at pod level by the scheduler.
func (p *PodWrapper) PodLevelReq(kv ...string) *PodWrapper {
	if p.Spec.Resources == nil {
		p.Spec.Resources = &v1.ResourceRequirements{}
	}
	p.Spec.Resources.Requests = ResourceList(kv...)
	return p
}

// NominatedNode sets status.nominatedNodeName, the node preemption chose
// for a pod that is not bound yet.
func (p *PodWrapper) NominatedNode(n string) *PodWrapper {
	p.Status.NominatedNodeName = n
	return p
}
