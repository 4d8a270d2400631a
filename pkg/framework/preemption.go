package framework

import (
	"context"

	v1 "k8s.io/api/core/v1"
)

// FilterRunner lets a PostFilter plugin (preemption) replay its profile's
// filtering on hypothetical node states: "what if these pods were gone".
// Callers pass a cloned CycleState and a cloned NodeInfo; the runner never
// changes the snapshot.
type FilterRunner interface {
	// RunPreFilterExtensionAddPod tells every PreFilter plugin with
	// extensions that podToAdd is now on nodeInfo, so their cycle state
	// stays consistent with the (already changed) nodeInfo.
	RunPreFilterExtensionAddPod(ctx context.Context, state *CycleState, pod *v1.Pod, podToAdd *PodInfo, nodeInfo *NodeInfo) *Status
	// RunPreFilterExtensionRemovePod is the removal counterpart.
	RunPreFilterExtensionRemovePod(ctx context.Context, state *CycleState, pod *v1.Pod, podToRemove *PodInfo, nodeInfo *NodeInfo) *Status
	// RunFilterPluginsWithNominatedPods runs the profile's Filter plugins
	// for pod on nodeInfo the way the scheduling cycle does: pods nominated
	// to the node with a priority at least the pod's count as if they were
	// running there, and the pod must also fit without them.
	RunFilterPluginsWithNominatedPods(ctx context.Context, state *CycleState, pod *v1.Pod, nodeInfo *NodeInfo) *Status
}

// PodNominator reads the pods the scheduler has nominated to nodes
// (status.nominatedNodeName, or a nomination made in memory by preemption
// that the API has not reflected yet).
type PodNominator interface {
	// NominatedPodsForNode returns a copy of the list of pods nominated to
	// the node; the PodInfos themselves are shared and read-only.
	NominatedPodsForNode(nodeName string) []*PodInfo
}

// PreemptionMetrics receives what preemption measures. The engine exports
// it as berth_preemption_attempts_total and berth_preemption_victims.
type PreemptionMetrics interface {
	// PreemptionAttempt counts one preemption evaluation.
	PreemptionAttempt()
	// Victims observes the number of victims chosen by one preemption.
	Victims(n int)
}

// Preemption is what a preemption plugin needs beyond the plain Handle,
// reached through Handle.Preemption (nil where the engine does not
// preempt).
type Preemption interface {
	PodNominator
	// FilterRunner returns the runner of the profile the plugin belongs
	// to.
	FilterRunner() FilterRunner
	// PreemptionMetrics returns where to report preemption measurements;
	// nil means nothing is recorded.
	PreemptionMetrics() PreemptionMetrics
	// GangOf returns every bound or binding member of the gang the pod
	// belongs to (the pod included) when evicting it would break a gang
	// of more than one member, else nil. Preemption evicts such a gang
	// whole or not at all: a gang left below its minimum holds capacity
	// and does nothing.
	GangOf(pod *v1.Pod) []*v1.Pod
}

// GroupPreemptor is implemented by the preemption plugin that can make
// room for a whole gang: it simulates the group's members one after the
// other, each seeing the room the previous ones took and the victims
// already chosen, and evicts only if at least need of them fit. Nothing
// is evicted for a gang that would still not fit.
type GroupPreemptor interface {
	Plugin
	// PreemptGroup returns the node nominated for each member it made room
	// for (by pod UID), or a status saying why it could not. preFilter
	// runs the profile's PreFilter for a member on the current snapshot.
	PreemptGroup(ctx context.Context, group *PodGroup, pods []*v1.Pod, need int, preFilter func(pod *v1.Pod) (*CycleState, *Status)) (map[string]string, *Status)
}
