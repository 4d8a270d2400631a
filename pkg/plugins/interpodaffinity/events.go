package interpodaffinity

import (
	"context"

	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"

	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/plugins/internal/pluginutil"
)

// EventsToRegister asks for assigned pods being added, relabelled or
// deleted (they change the counts) and nodes being added or relabelled
// (they change the topology domains).
func (pl *InterPodAffinity) EventsToRegister(context.Context) ([]framework.ClusterEventWithHint, error) {
	return []framework.ClusterEventWithHint{
		{
			Event:          framework.ClusterEvent{Resource: framework.AssignedPod, ActionType: framework.Add | framework.UpdatePodLabel | framework.Delete},
			QueueingHintFn: pl.isSchedulableAfterAssignedPodChange,
		},
		{
			Event:          framework.ClusterEvent{Resource: framework.Node, ActionType: framework.Add | framework.UpdateNodeLabel},
			QueueingHintFn: pl.isSchedulableAfterNodeChange,
		},
	}, nil
}

// The hints match terms as parsed, without resolving namespace selectors
// and without namespace labels, as kube-scheduler's hints do.
func matchesAllRaw(terms []*term, pod *v1.Pod) bool {
	if len(terms) == 0 {
		return false
	}
	for _, t := range terms {
		if !t.matches(pod, nil) {
			return false
		}
	}
	return true
}

func matchesAnyRaw(terms []*term, pod *v1.Pod) bool {
	for _, t := range terms {
		if t.matches(pod, nil) {
			return true
		}
	}
	return false
}

// isSchedulableAfterAssignedPodChange queues the pod when an added pod
// matches all its affinity terms, an update makes a pod match them or stop
// matching its anti-affinity, or a deleted pod matched its anti-affinity or
// rejected it by its own anti-affinity.
func (pl *InterPodAffinity) isSchedulableAfterAssignedPodChange(logger klog.Logger, pod *v1.Pod, oldObj, newObj interface{}) (framework.QueueingHint, error) {
	oldPod, newPod, err := pluginutil.As[*v1.Pod](oldObj, newObj)
	if err != nil {
		return framework.Queue, err
	}
	unassigned := func(p *v1.Pod) bool {
		return p != nil && p.Spec.NodeName == "" && p.Status.NominatedNodeName == ""
	}
	if unassigned(newPod) || unassigned(oldPod) {
		return framework.QueueSkip, nil
	}
	pt := pl.terms.get(pod)
	if pt.err != nil {
		return framework.Queue, pt.err
	}
	switch {
	case oldPod != nil && newPod != nil:
		if !matchesAllRaw(pt.requiredAffinity, oldPod) && matchesAllRaw(pt.requiredAffinity, newPod) {
			logger.V(5).Info("Assigned pod now matches the pod's affinity", "pod", klog.KObj(pod), "updatedPod", klog.KObj(newPod))
			return framework.Queue, nil
		}
		if matchesAnyRaw(pt.requiredAntiAffinity, oldPod) && !matchesAnyRaw(pt.requiredAntiAffinity, newPod) {
			logger.V(5).Info("Assigned pod no longer matches the pod's anti-affinity", "pod", klog.KObj(pod), "updatedPod", klog.KObj(newPod))
			return framework.Queue, nil
		}
		return framework.QueueSkip, nil
	case newPod != nil:
		if matchesAllRaw(pt.requiredAffinity, newPod) {
			return framework.Queue, nil
		}
		return framework.QueueSkip, nil
	case oldPod != nil:
		if matchesAnyRaw(pt.requiredAntiAffinity, oldPod) {
			return framework.Queue, nil
		}
		// Parse the deleted pod afresh: it is gone, so it is not cached.
		ot := pl.terms.parse(oldPod)
		if ot.err != nil {
			return framework.Queue, ot.err
		}
		if matchesAnyRaw(ot.requiredAntiAffinity, pod) {
			logger.V(5).Info("Deleted pod's anti-affinity rejected the pod", "pod", klog.KObj(pod), "deletedPod", klog.KObj(oldPod))
			return framework.Queue, nil
		}
		return framework.QueueSkip, nil
	}
	return framework.QueueSkip, nil
}

// isSchedulableAfterNodeChange queues the pod when a node gains or changes
// a topology key of its affinity, loses or changes one of its
// anti-affinity, or (with any anti-affinity) a node is added.
func (pl *InterPodAffinity) isSchedulableAfterNodeChange(logger klog.Logger, pod *v1.Pod, oldObj, newObj interface{}) (framework.QueueingHint, error) {
	oldNode, newNode, err := pluginutil.As[*v1.Node](oldObj, newObj)
	if err != nil {
		return framework.Queue, err
	}
	if newNode == nil {
		return framework.QueueSkip, nil
	}
	pt := pl.terms.get(pod)
	if pt.err != nil {
		return framework.Queue, pt.err
	}
	for _, t := range pt.requiredAffinity {
		newValue, newHas := newNode.Labels[t.topologyKey]
		if oldNode == nil {
			if newHas {
				return framework.Queue, nil
			}
			continue
		}
		oldValue, oldHas := oldNode.Labels[t.topologyKey]
		if newHas && (!oldHas || oldValue != newValue) {
			logger.V(5).Info("Node gained or changed a topology key of the pod's affinity", "pod", klog.KObj(pod), "node", klog.KObj(newNode))
			return framework.Queue, nil
		}
	}
	for _, t := range pt.requiredAntiAffinity {
		if oldNode == nil {
			return framework.Queue, nil
		}
		oldValue, oldHas := oldNode.Labels[t.topologyKey]
		newValue, newHas := newNode.Labels[t.topologyKey]
		if oldHas && (!newHas || oldValue != newValue) {
			logger.V(5).Info("Node lost or changed a topology key of the pod's anti-affinity", "pod", klog.KObj(pod), "node", klog.KObj(newNode))
			return framework.Queue, nil
		}
	}
	return framework.QueueSkip, nil
}
