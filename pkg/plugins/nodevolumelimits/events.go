package nodevolumelimits

import (
	"context"

	v1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/klog/v2"

	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/plugins/internal/pluginutil"
)

// EventsToRegister lists what can make a pod this plugin rejected
// schedulable: a CSINode appearing or raising a limit, a pod with volumes
// leaving a node, a VolumeAttachment going away, a missing claim being
// created, and a CSIDriver no longer requiring itself on nodes.
func (pl *NodeVolumeLimits) EventsToRegister(context.Context) ([]framework.ClusterEventWithHint, error) {
	return []framework.ClusterEventWithHint{
		{Event: framework.ClusterEvent{Resource: framework.CSINode, ActionType: framework.Add}},
		{
			Event:          framework.ClusterEvent{Resource: framework.CSINode, ActionType: framework.Update},
			QueueingHintFn: pl.isSchedulableAfterCSINodeUpdated,
		},
		{
			Event:          framework.ClusterEvent{Resource: framework.AssignedPod, ActionType: framework.Delete},
			QueueingHintFn: pl.isSchedulableAfterAssignedPodDeleted,
		},
		{
			Event:          framework.ClusterEvent{Resource: framework.PersistentVolumeClaim, ActionType: framework.Add},
			QueueingHintFn: pl.isSchedulableAfterClaimAdded,
		},
		{
			Event:          framework.ClusterEvent{Resource: framework.VolumeAttachment, ActionType: framework.Delete},
			QueueingHintFn: pl.isSchedulableAfterVolumeAttachmentDeleted,
		},
		{
			Event:          framework.ClusterEvent{Resource: framework.CSIDriver, ActionType: framework.Update | framework.Delete},
			QueueingHintFn: pl.isSchedulableAfterCSIDriverChange,
		},
	}, nil
}

// isSchedulableAfterCSINodeUpdated queues the pod when a driver's limit
// went up or went away (no limit), or a driver was registered (which a
// driver that prevents scheduling while missing waits for).
func (*NodeVolumeLimits) isSchedulableAfterCSINodeUpdated(logger klog.Logger, pod *v1.Pod, oldObj, newObj interface{}) (framework.QueueingHint, error) {
	oldNode, newNode, err := pluginutil.As[*storagev1.CSINode](oldObj, newObj)
	if err != nil {
		return framework.Queue, err
	}
	if oldNode == nil || newNode == nil {
		return framework.Queue, nil
	}
	type entry struct {
		limited bool
		limit   int32
	}
	before := map[string]entry{}
	for _, d := range oldNode.Spec.Drivers {
		e := entry{}
		if d.Allocatable != nil && d.Allocatable.Count != nil {
			e = entry{limited: true, limit: *d.Allocatable.Count}
		}
		before[d.Name] = e
	}
	for _, d := range newNode.Spec.Drivers {
		old, existed := before[d.Name]
		limited := d.Allocatable != nil && d.Allocatable.Count != nil
		switch {
		case !existed,
			old.limited && !limited,
			old.limited && limited && *d.Allocatable.Count > old.limit:
			logger.V(5).Info("CSINode driver was added or its limit raised", "pod", klog.KObj(pod), "csiNode", klog.KObj(newNode), "driver", d.Name)
			return framework.Queue, nil
		}
	}
	return framework.QueueSkip, nil
}

// isSchedulableAfterAssignedPodDeleted queues the pod when the deleted pod
// was on (or nominated to) a node and had a volume that may have counted.
func (pl *NodeVolumeLimits) isSchedulableAfterAssignedPodDeleted(logger klog.Logger, pod *v1.Pod, oldObj, newObj interface{}) (framework.QueueingHint, error) {
	deleted, _, err := pluginutil.As[*v1.Pod](oldObj, nil)
	if err != nil {
		return framework.Queue, err
	}
	if deleted == nil || (deleted.Spec.NodeName == "" && deleted.Status.NominatedNodeName == "") {
		return framework.QueueSkip, nil
	}
	for _, v := range deleted.Spec.Volumes {
		if pl.mayCount(v) {
			return framework.Queue, nil
		}
	}
	logger.V(5).Info("Deleted pod had no volume that counts against a limit", "pod", klog.KObj(pod), "deletedPod", klog.KObj(deleted))
	return framework.QueueSkip, nil
}

// isSchedulableAfterClaimAdded queues the pod when the new claim is one of
// its own (named, or its generic ephemeral volume's).
func (*NodeVolumeLimits) isSchedulableAfterClaimAdded(logger klog.Logger, pod *v1.Pod, oldObj, newObj interface{}) (framework.QueueingHint, error) {
	_, claim, err := pluginutil.As[*v1.PersistentVolumeClaim](oldObj, newObj)
	if err != nil {
		return framework.Queue, err
	}
	if claim != nil && framework.PodUsesClaim(pod, claim.Namespace, claim.Name) {
		return framework.Queue, nil
	}
	logger.V(5).Info("New claim is not used by the pod", "pod", klog.KObj(pod), "pvc", klog.KObj(claim))
	return framework.QueueSkip, nil
}

// isSchedulableAfterVolumeAttachmentDeleted queues the pod when it has a
// claim (whose driver is not known without lookups) or an in-line volume
// migrated to the attachment's driver.
func (pl *NodeVolumeLimits) isSchedulableAfterVolumeAttachmentDeleted(logger klog.Logger, pod *v1.Pod, oldObj, newObj interface{}) (framework.QueueingHint, error) {
	va, _, err := pluginutil.As[*storagev1.VolumeAttachment](oldObj, nil)
	if err != nil {
		return framework.Queue, err
	}
	if va == nil {
		return framework.QueueSkip, nil
	}
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		if v.PersistentVolumeClaim != nil || v.Ephemeral != nil {
			return framework.Queue, nil
		}
		if !pl.translator.IsInlineMigratable(v) {
			continue
		}
		plugin, err := pl.translator.GetInTreePluginNameFromSpec(nil, v)
		if err != nil {
			return framework.Queue, err
		}
		if driver, err := pl.translator.GetCSINameFromInTreeName(plugin); err != nil || driver == va.Spec.Attacher {
			return framework.Queue, err
		}
	}
	logger.V(5).Info("Deleted VolumeAttachment is of no driver the pod uses", "pod", klog.KObj(pod), "volumeAttachment", klog.KObj(va))
	return framework.QueueSkip, nil
}

// isSchedulableAfterCSIDriverChange queues the pod when a CSIDriver that
// prevented scheduling on nodes without it is deleted or stops doing so.
func (*NodeVolumeLimits) isSchedulableAfterCSIDriverChange(_ klog.Logger, _ *v1.Pod, oldObj, newObj interface{}) (framework.QueueingHint, error) {
	oldDriver, newDriver, err := pluginutil.As[*storagev1.CSIDriver](oldObj, newObj)
	if err != nil {
		return framework.Queue, err
	}
	prevents := func(d *storagev1.CSIDriver) bool {
		return d != nil && d.Spec.PreventPodSchedulingIfMissing != nil && *d.Spec.PreventPodSchedulingIfMissing
	}
	if prevents(oldDriver) && !prevents(newDriver) {
		return framework.Queue, nil
	}
	return framework.QueueSkip, nil
}
