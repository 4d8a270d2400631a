package framework

import (
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/klog/v2"
)

// EventResource is the kind of object a cluster event is about.
type EventResource string

// The resources the queue reacts to.
const (
	Pod                   EventResource = "Pod"
	AssignedPod           EventResource = "AssignedPod"
	UnscheduledPod        EventResource = "UnscheduledPod"
	Node                  EventResource = "Node"
	PersistentVolume      EventResource = "PersistentVolume"
	PersistentVolumeClaim EventResource = "PersistentVolumeClaim"
	StorageClass          EventResource = "StorageClass"
	CSINode               EventResource = "CSINode"
	CSIStorageCapacity    EventResource = "CSIStorageCapacity"
	CSIDriver             EventResource = "CSIDriver"
	VolumeAttachment      EventResource = "VolumeAttachment"
	PodDisruptionBudget   EventResource = "PodDisruptionBudget"
	// The Dynamic Resource Allocation objects (resource.k8s.io).
	ResourceClaim   EventResource = "ResourceClaim"
	ResourceSlice   EventResource = "ResourceSlice"
	DeviceClass     EventResource = "DeviceClass"
	DeviceTaintRule EventResource = "DeviceTaintRule"
	// WildCard matches every resource.
	WildCard EventResource = "*"
)

// ActionType is a bit set of what happened to the resource.
type ActionType int64

// Actions. The Update* values narrow an update to the field that changed, so
// that, say, a label change does not wake pods that failed on resources.
const (
	Add ActionType = 1 << iota
	Delete
	UpdateNodeAllocatable
	UpdateNodeLabel
	UpdateNodeTaint
	UpdateNodeCondition
	UpdateNodeAnnotation
	// UpdateNodeDeclaredFeature is a change of the node's
	// status.declaredFeatures (a kubelet upgrade or reconfiguration).
	UpdateNodeDeclaredFeature
	UpdatePodLabel
	UpdatePodScaleDown
	UpdatePodTolerations
	UpdatePodSchedulingGatesEliminated
	UpdatePodGeneratedResourceClaim
	// updateOther is any update not named above.
	updateOther

	// Update is any update.
	Update = UpdateNodeAllocatable | UpdateNodeLabel | UpdateNodeTaint | UpdateNodeCondition | UpdateNodeAnnotation |
		UpdateNodeDeclaredFeature | UpdatePodLabel | UpdatePodScaleDown | UpdatePodTolerations | UpdatePodSchedulingGatesEliminated |
		UpdatePodGeneratedResourceClaim | updateOther
	// All is every action.
	All = Add | Delete | Update
)

// UpdateOther is an update that none of the narrower actions describes.
const UpdateOther = updateOther

// ClusterEvent is a resource plus the actions that happened to it.
type ClusterEvent struct {
	Resource   EventResource
	ActionType ActionType
	// Label is for logs and metrics.
	Label string
}

// Match reports whether the registered event e covers the actual event o.
func (e ClusterEvent) Match(o ClusterEvent) bool {
	return (e.Resource == WildCard || e.Resource == o.Resource ||
		(e.Resource == Pod && (o.Resource == AssignedPod || o.Resource == UnscheduledPod))) &&
		e.ActionType&o.ActionType != 0
}

// QueueingHint is a plugin's answer to "may this event make the pod
// schedulable?".
type QueueingHint int

const (
	// QueueSkip means the event cannot help the pod.
	QueueSkip QueueingHint = iota
	// Queue means the event may help; the pod is retried.
	Queue
)

// QueueingHintFn refines a registered event for one pod: given the object
// before and after, it says whether to requeue the pod. A nil function
// means always Queue. An error is treated as Queue (never lose a pod).
type QueueingHintFn func(logger klog.Logger, pod *v1.Pod, oldObj, newObj interface{}) (QueueingHint, error)

// ClusterEventWithHint pairs an event with an optional hint.
type ClusterEventWithHint struct {
	Event          ClusterEvent
	QueueingHintFn QueueingHintFn
}

// EventSource tells the engine how to watch a resource it does not watch by
// itself, such as a custom resource (a PodGroup CRD), so that events a
// plugin registers for that resource are delivered. The engine starts an
// informer for it through the dynamic client and turns its adds, updates
// and deletes into ClusterEvents of Resource; the objects handed to
// queueing hints are *unstructured.Unstructured.
type EventSource struct {
	// Resource is the name the plugin's ClusterEvents use, by convention
	// "<resource>.<group>" (e.g. "podgroups.scheduling.x-k8s.io").
	Resource EventResource
	// GVR is the resource to list and watch.
	GVR schema.GroupVersionResource
}

// EventSourcer is implemented by plugins whose events (EventsToRegister)
// name resources outside the engine's built-in set: they declare how to
// watch them. The engine refuses to build a profile in which a plugin
// registers events for a resource that neither the engine nor any plugin's
// EventSources feeds, because such events would silently never arrive.
type EventSourcer interface {
	Plugin
	EventSources() []EventSource
}
