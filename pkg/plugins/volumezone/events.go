package volumezone

import (
	"context"
	"maps"
	"slices"

	v1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/klog/v2"

	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/plugins/internal/pluginutil"
)

// EventsToRegister lists what can make a pod this plugin rejected
// schedulable: a claim it uses appearing or being bound, a volume appearing
// or changing its topology labels, a delayed-binding class appearing (a
// class's binding mode is immutable, so updates cannot help), and nodes
// appearing or changing their labels.
func (pl *VolumeZone) EventsToRegister(context.Context) ([]framework.ClusterEventWithHint, error) {
	return []framework.ClusterEventWithHint{
		{
			Event:          framework.ClusterEvent{Resource: framework.StorageClass, ActionType: framework.Add},
			QueueingHintFn: pl.isSchedulableAfterStorageClassAdded,
		},
		{
			Event:          framework.ClusterEvent{Resource: framework.Node, ActionType: framework.Add | framework.UpdateNodeLabel},
			QueueingHintFn: pl.isSchedulableAfterNodeChange,
		},
		{
			Event:          framework.ClusterEvent{Resource: framework.PersistentVolumeClaim, ActionType: framework.Add | framework.Update},
			QueueingHintFn: pl.isSchedulableAfterClaimChange,
		},
		{
			Event:          framework.ClusterEvent{Resource: framework.PersistentVolume, ActionType: framework.Add | framework.Update},
			QueueingHintFn: pl.isSchedulableAfterVolumeChange,
		},
	}, nil
}

// isSchedulableAfterStorageClassAdded queues the pod for a new class that
// delays binding: an unbound claim of that class no longer rejects it.
func (*VolumeZone) isSchedulableAfterStorageClassAdded(logger klog.Logger, pod *v1.Pod, oldObj, newObj interface{}) (framework.QueueingHint, error) {
	_, class, err := pluginutil.As[*storagev1.StorageClass](oldObj, newObj)
	if err != nil {
		return framework.Queue, err
	}
	if class == nil || class.VolumeBindingMode == nil || *class.VolumeBindingMode != storagev1.VolumeBindingWaitForFirstConsumer {
		logger.V(5).Info("New StorageClass binds immediately, which cannot help the pod", "pod", klog.KObj(pod), "storageClass", klog.KObj(class))
		return framework.QueueSkip, nil
	}
	return framework.Queue, nil
}

// isSchedulableAfterNodeChange queues the pod for a new node, or for a
// node whose zone or region labels changed.
func (*VolumeZone) isSchedulableAfterNodeChange(logger klog.Logger, pod *v1.Pod, oldObj, newObj interface{}) (framework.QueueingHint, error) {
	oldNode, newNode, err := pluginutil.As[*v1.Node](oldObj, newObj)
	if err != nil {
		return framework.Queue, err
	}
	if newNode == nil {
		return framework.QueueSkip, nil
	}
	if oldNode == nil {
		return framework.Queue, nil
	}
	for _, key := range topologyLabels {
		ov, oldHas := oldNode.Labels[key]
		nv, newHas := newNode.Labels[key]
		if oldHas != newHas || ov != nv {
			return framework.Queue, nil
		}
	}
	logger.V(5).Info("Node labels changed but not its zone or region", "pod", klog.KObj(pod), "node", klog.KObj(newNode))
	return framework.QueueSkip, nil
}

// isSchedulableAfterClaimChange queues the pod when the claim is one of
// its own (created, or bound to a volume).
func (*VolumeZone) isSchedulableAfterClaimChange(logger klog.Logger, pod *v1.Pod, oldObj, newObj interface{}) (framework.QueueingHint, error) {
	_, claim, err := pluginutil.As[*v1.PersistentVolumeClaim](oldObj, newObj)
	if err != nil {
		return framework.Queue, err
	}
	if claim != nil && usesClaim(pod, claim) {
		return framework.Queue, nil
	}
	logger.V(5).Info("PersistentVolumeClaim is not used by the pod", "pod", klog.KObj(pod), "pvc", klog.KObj(claim))
	return framework.QueueSkip, nil
}

func usesClaim(pod *v1.Pod, claim *v1.PersistentVolumeClaim) bool {
	if claim.Namespace != pod.Namespace {
		return false
	}
	for i := range pod.Spec.Volumes {
		if src := pod.Spec.Volumes[i].PersistentVolumeClaim; src != nil && src.ClaimName == claim.Name {
			return true
		}
	}
	return false
}

// isSchedulableAfterVolumeChange queues the pod for a new volume, or for a
// volume whose topology labels changed (its node affinity is immutable).
func (*VolumeZone) isSchedulableAfterVolumeChange(logger klog.Logger, pod *v1.Pod, oldObj, newObj interface{}) (framework.QueueingHint, error) {
	oldPV, newPV, err := pluginutil.As[*v1.PersistentVolume](oldObj, newObj)
	if err != nil {
		return framework.Queue, err
	}
	if newPV == nil {
		return framework.QueueSkip, nil
	}
	if oldPV == nil {
		return framework.Queue, nil
	}
	if !slices.EqualFunc(volumeTopologies(logger, oldPV), volumeTopologies(logger, newPV), func(a, b volumeTopology) bool {
		return a.key == b.key && maps.Equal(a.values, b.values)
	}) {
		return framework.Queue, nil
	}
	logger.V(5).Info("PersistentVolume changed but not its topology", "pod", klog.KObj(pod), "pv", klog.KObj(newPV))
	return framework.QueueSkip, nil
}
