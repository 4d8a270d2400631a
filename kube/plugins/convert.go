package plugins

import (
	"fmt"

	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"
	kubeframework "k8s.io/kubernetes/pkg/scheduler/framework"

	"github.com/berthsched/berth/pkg/framework"
)

// codes maps berth's status codes to kube-scheduler's; the meanings are
// the same (both follow kube-scheduler's).
var codes = map[framework.Code]fwk.Code{
	framework.Success:                      fwk.Success,
	framework.Error:                        fwk.Error,
	framework.Unschedulable:                fwk.Unschedulable,
	framework.UnschedulableAndUnresolvable: fwk.UnschedulableAndUnresolvable,
	framework.Wait:                         fwk.Wait,
	framework.Skip:                         fwk.Skip,
	framework.Pending:                      fwk.Pending,
}

// toStatus translates a berth status; nil stays nil (success). An unknown
// code is an Error: a verdict kube-scheduler cannot read must not pass.
func toStatus(s *framework.Status) *fwk.Status {
	if s == nil {
		return nil
	}
	code, ok := codes[s.Code()]
	if !ok {
		return fwk.NewStatus(fwk.Error, fmt.Sprintf("berth status with unknown code %d: %s", int(s.Code()), s.Message()))
	}
	if code == fwk.Error {
		// Keep the error itself for errors.Is and kube-scheduler's logs.
		return fwk.AsStatus(s.AsError())
	}
	return fwk.NewStatus(code, s.Reasons()...)
}

// resources maps berth's event resources to kube-scheduler's. Those
// kube-scheduler has no events for (PodDisruptionBudget,
// DeviceTaintRule) are missing: a pod a plugin rejected waits for its
// other events or kube-scheduler's periodic flush of unschedulable pods.
var resources = map[framework.EventResource]fwk.EventResource{
	framework.Pod:                   fwk.Pod,
	framework.AssignedPod:           fwk.AssignedPod,
	framework.UnscheduledPod:        fwk.UnscheduledPod,
	framework.Node:                  fwk.Node,
	framework.PersistentVolume:      fwk.PersistentVolume,
	framework.PersistentVolumeClaim: fwk.PersistentVolumeClaim,
	framework.StorageClass:          fwk.StorageClass,
	framework.CSINode:               fwk.CSINode,
	framework.CSIStorageCapacity:    fwk.CSIStorageCapacity,
	framework.CSIDriver:             fwk.CSIDriver,
	framework.VolumeAttachment:      fwk.VolumeAttachment,
	framework.ResourceClaim:         fwk.ResourceClaim,
	framework.ResourceSlice:         fwk.ResourceSlice,
	framework.DeviceClass:           fwk.DeviceClass,
}

// actions maps berth's action bits to kube-scheduler's (their bit
// positions differ). berth's UpdateOther, an update none of the narrower
// actions describes, has no counterpart: it becomes any update.
var actions = []struct {
	berth framework.ActionType
	kube  fwk.ActionType
}{
	{framework.Add, fwk.Add},
	{framework.Delete, fwk.Delete},
	{framework.UpdateNodeAllocatable, fwk.UpdateNodeAllocatable},
	{framework.UpdateNodeLabel, fwk.UpdateNodeLabel},
	{framework.UpdateNodeTaint, fwk.UpdateNodeTaint},
	{framework.UpdateNodeCondition, fwk.UpdateNodeCondition},
	{framework.UpdateNodeAnnotation, fwk.UpdateNodeAnnotation},
	{framework.UpdateNodeDeclaredFeature, fwk.UpdateNodeDeclaredFeature},
	{framework.UpdatePodLabel, fwk.UpdatePodLabel},
	{framework.UpdatePodScaleDown, fwk.UpdatePodScaleDown},
	{framework.UpdatePodTolerations, fwk.UpdatePodToleration},
	{framework.UpdatePodSchedulingGatesEliminated, fwk.UpdatePodSchedulingGatesEliminated},
	{framework.UpdatePodGeneratedResourceClaim, fwk.UpdatePodGeneratedResourceClaim},
	{framework.UpdateOther, fwk.Update},
}

func toActions(a framework.ActionType) fwk.ActionType {
	var out fwk.ActionType
	for _, m := range actions {
		if a&m.berth != 0 {
			out |= m.kube
		}
	}
	return out
}

// toEvents translates a plugin's events. A custom resource's events
// ("<resource>.<group>" in berth, declared with its GVR by
// framework.EventSourcer) are named "<resource>.<version>.<group>", the
// form kube-scheduler watches through its dynamic informers. Events of
// resources kube-scheduler cannot deliver are dropped (see resources).
// A wildcard resource becomes every resource kube-scheduler watches: it
// registers event handlers only for the resources plugins name, so "*"
// itself would register none (and log "Incorrect event registration").
func toEvents(pl framework.Plugin, evs []framework.ClusterEventWithHint) []fwk.ClusterEventWithHint {
	custom := map[framework.EventResource]fwk.EventResource{}
	if s, ok := pl.(framework.EventSourcer); ok {
		for _, src := range s.EventSources() {
			custom[src.Resource] = fwk.EventResource(src.GVR.Resource + "." + src.GVR.Version + "." + src.GVR.Group)
		}
	}
	out := make([]fwk.ClusterEventWithHint, 0, len(evs))
	for _, e := range evs {
		var targets []fwk.EventResource
		if e.Event.Resource == framework.WildCard {
			for _, u := range kubeframework.UnrollWildCardResource() {
				targets = append(targets, u.Event.Resource)
			}
		} else if res, ok := resources[e.Event.Resource]; ok {
			targets = []fwk.EventResource{res}
		} else if res, ok := custom[e.Event.Resource]; ok {
			targets = []fwk.EventResource{res}
		}
		for _, res := range targets {
			out = append(out, toEvent(e, res))
		}
	}
	return out
}

// toEvent is e for kube-scheduler's resource res.
func toEvent(e framework.ClusterEventWithHint, res fwk.EventResource) fwk.ClusterEventWithHint {
	k := fwk.ClusterEventWithHint{Event: fwk.ClusterEvent{Resource: res, ActionType: toActions(e.Event.ActionType), CustomLabel: e.Event.Label}}
	if fn := e.QueueingHintFn; fn != nil {
		k.QueueingHintFn = func(logger klog.Logger, pod *v1.Pod, oldObj, newObj interface{}) (fwk.QueueingHint, error) {
			h, err := fn(logger, pod, oldObj, newObj)
			if h == framework.QueueSkip {
				return fwk.QueueSkip, err
			}
			return fwk.Queue, err
		}
	}
	return k
}
