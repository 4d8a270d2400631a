package volumebinding

import (
	"context"
	"reflect"

	v1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/klog/v2"

	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/plugins/internal/csicapacity"
	"github.com/berthsched/berth/pkg/plugins/internal/pluginutil"
)

// EventsToRegister lists what can make a pod VolumeBinding rejected
// schedulable: its claim appearing or changing, PVs appearing or changing,
// a class appearing or changing its allowed topologies, nodes appearing or
// relabelled, CSI migration state, a driver turning capacity tracking off,
// and storage capacity growing.
func (pl *VolumeBinding) EventsToRegister(context.Context) ([]framework.ClusterEventWithHint, error) {
	return []framework.ClusterEventWithHint{
		{Event: framework.ClusterEvent{Resource: framework.StorageClass, ActionType: framework.Add | framework.Update}, QueueingHintFn: isSchedulableAfterClassChange},
		{Event: framework.ClusterEvent{Resource: framework.PersistentVolumeClaim, ActionType: framework.Add | framework.Update}, QueueingHintFn: isSchedulableAfterClaimChange},
		{Event: framework.ClusterEvent{Resource: framework.PersistentVolume, ActionType: framework.Add | framework.Update}},
		{Event: framework.ClusterEvent{Resource: framework.Node, ActionType: framework.Add | framework.UpdateNodeLabel}},
		{Event: framework.ClusterEvent{Resource: framework.CSINode, ActionType: framework.Add | framework.Update}, QueueingHintFn: isSchedulableAfterCSINodeChange},
		{Event: framework.ClusterEvent{Resource: framework.CSIDriver, ActionType: framework.Update}, QueueingHintFn: isSchedulableAfterCSIDriverChange},
		{Event: framework.ClusterEvent{Resource: framework.CSIStorageCapacity, ActionType: framework.Add | framework.Update}, QueueingHintFn: isSchedulableAfterCapacityChange},
	}, nil
}

func isSchedulableAfterClassChange(logger klog.Logger, pod *v1.Pod, oldObj, newObj interface{}) (framework.QueueingHint, error) {
	oldC, newC, err := pluginutil.As[*storagev1.StorageClass](oldObj, newObj)
	if err != nil {
		return framework.Queue, err
	}
	if oldC == nil || !reflect.DeepEqual(oldC.AllowedTopologies, newC.AllowedTopologies) {
		return framework.Queue, nil
	}
	return framework.QueueSkip, nil
}

// isSchedulableAfterClaimChange queues the pod when one of its own claims
// was added or changed.
func isSchedulableAfterClaimChange(logger klog.Logger, pod *v1.Pod, oldObj, newObj interface{}) (framework.QueueingHint, error) {
	_, pvc, err := pluginutil.As[*v1.PersistentVolumeClaim](oldObj, newObj)
	if err != nil {
		return framework.Queue, err
	}
	if pvc != nil && framework.PodUsesClaim(pod, pvc.Namespace, pvc.Name) {
		return framework.Queue, nil
	}
	return framework.QueueSkip, nil
}

func isSchedulableAfterCSINodeChange(logger klog.Logger, pod *v1.Pod, oldObj, newObj interface{}) (framework.QueueingHint, error) {
	oldN, newN, err := pluginutil.As[*storagev1.CSINode](oldObj, newObj)
	if err != nil {
		return framework.Queue, err
	}
	if oldN == nil || newN == nil || oldN.Annotations[v1.MigratedPluginsAnnotationKey] != newN.Annotations[v1.MigratedPluginsAnnotationKey] {
		return framework.Queue, nil
	}
	return framework.QueueSkip, nil
}

// isSchedulableAfterCSIDriverChange queues pods with an in-line volume of
// the driver when the driver stops tracking capacity.
func isSchedulableAfterCSIDriverChange(logger klog.Logger, pod *v1.Pod, oldObj, newObj interface{}) (framework.QueueingHint, error) {
	oldD, newD, err := pluginutil.As[*storagev1.CSIDriver](oldObj, newObj)
	if err != nil {
		return framework.Queue, err
	}
	if oldD == nil || newD == nil {
		return framework.Queue, nil
	}
	for _, vol := range pod.Spec.Volumes {
		if vol.CSI != nil && vol.CSI.Driver == newD.Name && csicapacity.Tracked(oldD) && !csicapacity.Tracked(newD) {
			return framework.Queue, nil
		}
	}
	return framework.QueueSkip, nil
}

// isSchedulableAfterCapacityChange queues the pod when capacity appears or
// the largest volume it admits grows.
func isSchedulableAfterCapacityChange(logger klog.Logger, pod *v1.Pod, oldObj, newObj interface{}) (framework.QueueingHint, error) {
	oldC, newC, err := pluginutil.As[*storagev1.CSIStorageCapacity](oldObj, newObj)
	if err != nil {
		return framework.Queue, err
	}
	if oldC == nil {
		return framework.Queue, nil
	}
	if newC != nil && csicapacity.VolumeLimit(newC) > csicapacity.VolumeLimit(oldC) {
		return framework.Queue, nil
	}
	return framework.QueueSkip, nil
}
