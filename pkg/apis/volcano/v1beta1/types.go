package v1beta1

import (
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// GroupNameAnnotation is the pod annotation whose value names the pod's
// PodGroup in the pod's namespace. Volcano's scheduler finds a pod's gang
// by this key alone (Volcano's job controller and PodGroup controller
// write it), so berth reads the same one. Note the group: it is
// scheduling.k8s.io, not Volcano's own; Volcano also defines
// scheduling.volcano.sh/group-name, which its scheduler does not read.
const GroupNameAnnotation = "scheduling.k8s.io/group-name"

// DefaultQueue is the queue a PodGroup is in when spec.queue is not set:
// the CRD defaults the field to it on create.
const DefaultQueue = "default"

// PodGroupPhase is where a PodGroup is in its life, as Volcano's scheduler
// writes it at the end of every scheduling session. The CRD accepts only
// the values below.
type PodGroupPhase string

// The phases Volcano's CRD allows.
const (
	// PodGroupPending means the group is not admitted to its queue yet
	// and fewer than minMember members are placed.
	PodGroupPending PodGroupPhase = "Pending"
	// PodGroupInqueue means the queue has admitted the group (its
	// minResources fit what the queue may still use), so its controller
	// may create the pods; fewer than minMember are placed yet. Volcano
	// places members of admitted groups only (when its enqueue action is
	// off, every group is admitted at once).
	PodGroupInqueue PodGroupPhase = "Inqueue"
	// PodGroupRunning means at least minMember members are placed and not
	// all of them have completed.
	PodGroupRunning PodGroupPhase = "Running"
	// PodGroupCompleted means at least minMember members were placed and
	// every placed member has completed.
	PodGroupCompleted PodGroupPhase = "Completed"
	// PodGroupUnknown means some members run but the scheduler found the
	// rest unschedulable in its latest session; their controller is
	// expected to recover them.
	PodGroupUnknown PodGroupPhase = "Unknown"
)

// PodGroupConditionType names a condition in status.conditions.
type PodGroupConditionType string

// The condition types Volcano's gang plugin writes, once per scheduling
// session.
const (
	// PodGroupConditionUnschedulable, when True, says the latest session
	// could not place the gang; its Reason and Message say why.
	PodGroupConditionUnschedulable PodGroupConditionType = "Unschedulable"
	// PodGroupConditionScheduled, when True, says the latest session
	// found enough members ready or placeable to start the gang.
	PodGroupConditionScheduled PodGroupConditionType = "Scheduled"
)

// PodGroup is a gang of pods that is only worth starting as a whole, in a
// Volcano queue. Its members carry GroupNameAnnotation with the group's
// name.
type PodGroup struct {
	metav1.TypeMeta `json:",inline"`
	// ObjectMeta is the group's name, namespace and the rest of its
	// standard metadata; members must be in the group's namespace.
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is what the group's owner asks for.
	Spec PodGroupSpec `json:"spec,omitempty"`
	// Status is what the scheduler observed. It may lag behind the pods.
	Status PodGroupStatus `json:"status,omitempty"`
}

// PodGroupSpec is the all-or-nothing condition of a gang and where it
// queues. Only the fields berth reads are here.
type PodGroupSpec struct {
	// MinMember is how many members must be placed together before any
	// is bound; zero (allowed by the CRD) asks for no gang at all.
	MinMember int32 `json:"minMember,omitempty"`
	// MinTaskMember is the same condition per task (role) of a job, keyed
	// by task name, such as at least one "ps" and four "worker" pods. A
	// pod's task is Volcano's volcano.sh/task-spec annotation or label.
	MinTaskMember map[string]int32 `json:"minTaskMember,omitempty"`
	// Queue is the Volcano Queue whose share the gang is admitted
	// against; DefaultQueue when unset.
	Queue string `json:"queue,omitempty"`
	// PriorityClassName orders gangs against each other, the way a pod's
	// priority class orders pods; empty means the cluster's default.
	PriorityClassName string `json:"priorityClassName,omitempty"`
	// MinResources is the total the gang needs at once, checked against
	// the queue and the cluster before members are tried. A pointer, as
	// in Volcano's API: nil (not set) differs from an empty list.
	MinResources *v1.ResourceList `json:"minResources,omitempty"`
}

// PodGroupStatus is the observed state of a gang. Volcano's CRD has no
// status subresource, so it is written with the whole object.
type PodGroupStatus struct {
	// Phase summarises the gang's progress; see PodGroupPhase.
	Phase PodGroupPhase `json:"phase,omitempty"`
	// Conditions record the outcome of recent scheduling sessions, for
	// people and tools asking why a gang waits.
	Conditions []PodGroupCondition `json:"conditions,omitempty"`
	// Running counts members that are running.
	Running int32 `json:"running,omitempty"`
	// Succeeded counts members that succeeded.
	Succeeded int32 `json:"succeeded,omitempty"`
	// Failed counts members that failed.
	Failed int32 `json:"failed,omitempty"`
}

// PodGroupCondition is one observation about a gang. It is Volcano's own
// shape, not metav1.Condition: it has a TransitionID and no
// observedGeneration.
type PodGroupCondition struct {
	// Type says what is observed.
	Type PodGroupConditionType `json:"type,omitempty"`
	// Status is True, False or Unknown.
	Status v1.ConditionStatus `json:"status,omitempty"`
	// TransitionID identifies the scheduling session that wrote the
	// condition (Volcano uses the session's UID), so that a scheduler
	// can tell this session's verdict from an older one.
	TransitionID string `json:"transitionID,omitempty"`
	// LastTransitionTime is when the condition was written.
	LastTransitionTime metav1.Time `json:"lastTransitionTime,omitempty"`
	// Reason is a one-word CamelCase cause, such as NotEnoughResources.
	Reason string `json:"reason,omitempty"`
	// Message explains the condition to people.
	Message string `json:"message,omitempty"`
}

// PodGroupList is what listing podgroups returns; informers and the
// dynamic client's List need it.
type PodGroupList struct {
	metav1.TypeMeta `json:",inline"`
	// ListMeta carries the resourceVersion to watch from.
	metav1.ListMeta `json:"metadata,omitempty"`

	// Items are the groups listed.
	Items []PodGroup `json:"items"`
}
