package volumerestrictions

import (
	"context"

	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"

	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/plugins/internal/pluginutil"
)

// EventsToRegister lists what can make a pod this plugin rejected
// schedulable: an assigned pod going away (releasing a disk or a claim; a
// pod's volumes are immutable, so updates cannot), a new node, and a
// missing claim being created.
func (pl *VolumeRestrictions) EventsToRegister(context.Context) ([]framework.ClusterEventWithHint, error) {
	return []framework.ClusterEventWithHint{
		{
			Event:          framework.ClusterEvent{Resource: framework.AssignedPod, ActionType: framework.Delete},
			QueueingHintFn: pl.isSchedulableAfterAssignedPodDeleted,
		},
		{Event: framework.ClusterEvent{Resource: framework.Node, ActionType: framework.Add}},
		{
			Event:          framework.ClusterEvent{Resource: framework.PersistentVolumeClaim, ActionType: framework.Add},
			QueueingHintFn: pl.isSchedulableAfterClaimAdded,
		},
	}, nil
}

// isSchedulableAfterAssignedPodDeleted queues the pod when the deleted pod
// held one of the pod's restricted disks (disks are not namespaced) or
// used one of its claims. Whether the claim is ReadWriteOncePod is not
// checked: that needs a claim lookup, and a false Queue only costs a retry.
func (*VolumeRestrictions) isSchedulableAfterAssignedPodDeleted(logger klog.Logger, pod *v1.Pod, oldObj, newObj interface{}) (framework.QueueingHint, error) {
	deleted, _, err := pluginutil.As[*v1.Pod](oldObj, nil)
	if err != nil {
		return framework.Queue, err
	}
	if deleted == nil {
		return framework.QueueSkip, nil
	}
	for i := range pod.Spec.Volumes {
		if v := &pod.Spec.Volumes[i]; hasExclusiveDisk(*v) && conflictsWithPod(v, deleted) {
			logger.V(5).Info("Deleted pod held a disk the pod needs", "pod", klog.KObj(pod), "deletedPod", klog.KObj(deleted))
			return framework.Queue, nil
		}
	}
	if deleted.Namespace == pod.Namespace {
		claims := map[string]bool{}
		for i := range pod.Spec.Volumes {
			if src := pod.Spec.Volumes[i].PersistentVolumeClaim; src != nil {
				claims[src.ClaimName] = true
			}
		}
		for i := range deleted.Spec.Volumes {
			if claims[framework.PodVolumeClaimName(deleted, &deleted.Spec.Volumes[i])] {
				logger.V(5).Info("Deleted pod used a claim the pod needs", "pod", klog.KObj(pod), "deletedPod", klog.KObj(deleted))
				return framework.Queue, nil
			}
		}
	}
	return framework.QueueSkip, nil
}

// isSchedulableAfterClaimAdded queues the pod when the new claim is one it
// names: PreFilter rejected the pod while the claim was missing.
func (*VolumeRestrictions) isSchedulableAfterClaimAdded(logger klog.Logger, pod *v1.Pod, oldObj, newObj interface{}) (framework.QueueingHint, error) {
	_, claim, err := pluginutil.As[*v1.PersistentVolumeClaim](oldObj, newObj)
	if err != nil {
		return framework.Queue, err
	}
	if claim == nil || claim.Namespace != pod.Namespace {
		return framework.QueueSkip, nil
	}
	for i := range pod.Spec.Volumes {
		if src := pod.Spec.Volumes[i].PersistentVolumeClaim; src != nil && src.ClaimName == claim.Name {
			return framework.Queue, nil
		}
	}
	logger.V(5).Info("New claim is not used by the pod", "pod", klog.KObj(pod), "pvc", klog.KObj(claim))
	return framework.QueueSkip, nil
}
