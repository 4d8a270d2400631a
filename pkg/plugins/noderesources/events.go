package noderesources

import (
	"context"

	v1 "k8s.io/api/core/v1"
	resourceapi "k8s.io/api/resource/v1"
	resourcehelper "k8s.io/component-helpers/resource"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"

	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/plugins/internal/pluginutil"
)

// EventsToRegister lists the only changes that can free or add resources: a
// pod leaving a node, a running pod shrinking in place, a node joining, or a
// node's allocatable changing. Each hint drops the events that cannot help
// this particular pod, so a big cluster's churn does not retry every
// pending pod.
func (f *Fit) EventsToRegister(_ context.Context) ([]framework.ClusterEventWithHint, error) {
	evs := []framework.ClusterEventWithHint{
		{Event: framework.ClusterEvent{Resource: framework.AssignedPod, ActionType: framework.Delete}, QueueingHintFn: f.hintAfterPodDelete},
		{Event: framework.ClusterEvent{Resource: framework.AssignedPod, ActionType: framework.UpdatePodScaleDown}, QueueingHintFn: f.hintAfterPodScaleDown},
		{Event: framework.ClusterEvent{Resource: framework.Node, ActionType: framework.Add | framework.UpdateNodeAllocatable}, QueueingHintFn: f.hintAfterNodeChange},
	}
	if f.dra != nil {
		// A class that starts backing a requested extended resource lets
		// DRA devices provide it.
		evs = append(evs, framework.ClusterEventWithHint{Event: framework.ClusterEvent{Resource: framework.DeviceClass, ActionType: framework.Add | framework.Update}, QueueingHintFn: f.hintAfterDeviceClassChange})
	}
	return evs, nil
}

// hintAfterDeviceClassChange: a class helps only if it now backs a resource
// the pod requests: under its implicit name when it is new, or under an
// extendedResourceName it did not have before.
func (f *Fit) hintAfterDeviceClassChange(logger klog.Logger, pod *v1.Pod, oldObj, newObj interface{}) (framework.QueueingHint, error) {
	before, after, err := pluginutil.As[*resourceapi.DeviceClass](oldObj, newObj)
	if err != nil {
		return framework.Queue, err
	}
	if after == nil {
		return framework.QueueSkip, nil
	}
	reqs := resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{})
	name := ptr.Deref(after.Spec.ExtendedResourceName, "")
	if before != nil {
		if ptr.Deref(before.Spec.ExtendedResourceName, "") == name {
			return framework.QueueSkip, nil
		}
	} else if _, ok := reqs[v1.ResourceName(resourceapi.ResourceDeviceClassPrefix+after.Name)]; ok {
		return framework.Queue, nil
	}
	if _, ok := reqs[v1.ResourceName(name)]; ok && name != "" {
		return framework.Queue, nil
	}
	logger.V(5).Info("Device class backs no resource the pod requests", "pod", klog.KObj(pod), "deviceClass", klog.KObj(after))
	return framework.QueueSkip, nil
}

// hintAfterPodDelete: a deleted pod frees room only if it held some, that
// is if it was bound or nominated to a node.
func (f *Fit) hintAfterPodDelete(logger klog.Logger, pod *v1.Pod, oldObj, newObj interface{}) (framework.QueueingHint, error) {
	deleted, _, err := pluginutil.As[*v1.Pod](oldObj, newObj)
	if err != nil {
		return framework.Queue, err
	}
	if deleted == nil {
		return framework.Queue, nil
	}
	if deleted.Spec.NodeName == "" && deleted.Status.NominatedNodeName == "" {
		logger.V(5).Info("Deleted pod held no resources", "pod", klog.KObj(pod), "deletedPod", klog.KObj(deleted))
		return framework.QueueSkip, nil
	}
	return framework.Queue, nil
}

// hintAfterPodScaleDown: an in-place resize helps only if a bound pod now
// asks for less of a resource that the pending pod requests.
func (f *Fit) hintAfterPodScaleDown(logger klog.Logger, pod *v1.Pod, oldObj, newObj interface{}) (framework.QueueingHint, error) {
	before, after, err := pluginutil.As[*v1.Pod](oldObj, newObj)
	if err != nil {
		return framework.Queue, err
	}
	if before == nil || after == nil {
		return framework.Queue, nil
	}
	if after.Spec.NodeName == "" || !relevantRequestDecreased(pod, before, after) {
		logger.V(5).Info("Pod scale-down frees nothing the pod needs", "pod", klog.KObj(pod), "modifiedPod", klog.KObj(after))
		return framework.QueueSkip, nil
	}
	return framework.Queue, nil
}

// resizeAwareRequests reads requests the way kube-scheduler accounts a
// running pod: the largest of spec, allocated and actuated resources.
func resizeAwareRequests(pod *v1.Pod) *framework.Resource {
	return framework.NewResource(resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{
		UseStatusResources: true,
		InPlacePodLevelResourcesVerticalScalingEnabled: true,
	}))
}

func relevantRequestDecreased(target, before, after *v1.Pod) bool {
	want, was, now := resizeAwareRequests(target), resizeAwareRequests(before), resizeAwareRequests(after)
	if want.MilliCPU > 0 && was.MilliCPU > now.MilliCPU ||
		want.Memory > 0 && was.Memory > now.Memory ||
		want.EphemeralStorage > 0 && was.EphemeralStorage > now.EphemeralStorage {
		return true
	}
	for name, q := range want.ScalarResources {
		if q > 0 && was.ScalarResources[name] > now.ScalarResources[name] {
			return true
		}
	}
	return false
}

// hintAfterNodeChange: a new or grown node helps only if the pod would fit
// on it when empty, and, for an update, only if the node gained pod slots or
// some resource the pod requests.
func (f *Fit) hintAfterNodeChange(logger klog.Logger, pod *v1.Pod, oldObj, newObj interface{}) (framework.QueueingHint, error) {
	before, after, err := pluginutil.As[*v1.Node](oldObj, newObj)
	if err != nil {
		return framework.Queue, err
	}
	if after == nil {
		return framework.Queue, nil
	}
	req := framework.PodRequests(pod)
	backed := f.backed(req)
	empty := framework.NewNodeInfo()
	empty.SetNode(after)
	if len(fitsRequest(req, empty, f.ignoredResources, f.ignoredGroups, backed)) > 0 {
		logger.V(5).Info("Node cannot hold the pod even when empty", "pod", klog.KObj(pod), "node", klog.KObj(after))
		return framework.QueueSkip, nil
	}
	if before == nil {
		return framework.Queue, nil
	}
	if !anyRequestedIncreased(req, framework.NewResource(before.Status.Allocatable), framework.NewResource(after.Status.Allocatable), backed) {
		logger.V(5).Info("Node update adds nothing the pod needs", "pod", klog.KObj(pod), "node", klog.KObj(after))
		return framework.QueueSkip, nil
	}
	return framework.Queue, nil
}

// A requested resource DRA backs and the node does not advertise counts as
// increased, as in kube-scheduler: devices may provide it.
func anyRequestedIncreased(req, was, now *framework.Resource, draBacked map[v1.ResourceName]bool) bool {
	if now.AllowedPodNumber > was.AllowedPodNumber {
		return true
	}
	if req.MilliCPU > 0 && now.MilliCPU > was.MilliCPU ||
		req.Memory > 0 && now.Memory > was.Memory ||
		req.EphemeralStorage > 0 && now.EphemeralStorage > was.EphemeralStorage {
		return true
	}
	for name, q := range req.ScalarResources {
		if q > 0 && now.ScalarResources[name] > was.ScalarResources[name] {
			return true
		}
		if q > 0 && draBacked[name] && now.ScalarResources[name] <= 0 {
			return true
		}
	}
	return false
}
