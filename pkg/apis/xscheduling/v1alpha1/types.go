package v1alpha1

import (
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PodGroupLabel is the pod label whose value names the pod's PodGroup in
// the pod's namespace. It is how scheduler-plugins' Coscheduling finds a
// pod's gang, so berth reads the same label to schedule the same pods.
const PodGroupLabel = GroupName + "/pod-group"

// PodGroupPhase is where a PodGroup is in its life, as written to
// status.phase by scheduler-plugins' PodGroup controller (and by berth
// when it schedules the group). The CRD does not restrict the value, so
// readers must tolerate phases they do not know.
type PodGroupPhase string

// The phases scheduler-plugins defines. There is no Scheduled or Succeeded
// phase: members are counted by pod phase, and a group whose members
// succeeded is Finished. The controller moves a group between them from
// its member pods alone; placement does not enter into it.
const (
	// PodGroupPending means the group is new or has fewer member pods
	// than minMember, so a gang scheduler cannot place it yet.
	PodGroupPending PodGroupPhase = "Pending"
	// PodGroupScheduling means at least minMember member pods exist but
	// fewer than minMember are running or succeeded: the gang is being
	// placed.
	PodGroupScheduling PodGroupPhase = "Scheduling"
	// PodGroupRunning means at least minMember members are running or
	// succeeded: the gang has started.
	PodGroupRunning PodGroupPhase = "Running"
	// PodGroupFinished means at least minMember members succeeded. The
	// controller stops updating a Finished group.
	PodGroupFinished PodGroupPhase = "Finished"
	// PodGroupFailed means some member failed and the failed, running and
	// succeeded members together reach minMember. The controller stops
	// updating a Failed group.
	PodGroupFailed PodGroupPhase = "Failed"
	// PodGroupUnknown means some members were placed and the others
	// cannot be, and their controllers are expected to recreate them.
	// scheduler-plugins defines it but its own controller never sets it.
	PodGroupUnknown PodGroupPhase = "Unknown"
)

// PodGroup is a gang of pods that is only worth starting as a whole: a
// distributed training job whose workers wait for each other, for
// instance. Its members carry PodGroupLabel with the group's name.
type PodGroup struct {
	metav1.TypeMeta `json:",inline"`
	// ObjectMeta is the group's name, namespace and the rest of its
	// standard metadata; members must be in the group's namespace.
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is what the group's owner asks for.
	Spec PodGroupSpec `json:"spec,omitempty"`
	// Status is what the scheduler and the PodGroup controller observed.
	// It may lag behind the pods.
	Status PodGroupStatus `json:"status,omitempty"`
}

// PodGroupSpec is the all-or-nothing condition of a gang.
type PodGroupSpec struct {
	// MinMember is how many members must be placed together before any
	// is bound. The CRD requires at least 1 when it is set.
	MinMember int32 `json:"minMember,omitempty"`
	// MinResources is the total the gang needs at once. A scheduler may
	// check it against free capacity before trying the members one by
	// one, to reject a gang that cannot fit early.
	MinResources v1.ResourceList `json:"minResources,omitempty"`
	// ScheduleTimeoutSeconds bounds how long members that found a node
	// wait (in Permit) for the rest of the gang before all of them give
	// their nodes back and are retried, so that a gang that cannot fit
	// does not hold capacity forever. Nil means the scheduler's default.
	ScheduleTimeoutSeconds *int32 `json:"scheduleTimeoutSeconds,omitempty"`
}

// PodGroupStatus is the observed state of a gang, written through the
// status subresource.
type PodGroupStatus struct {
	// Phase summarises the counts below; see PodGroupPhase.
	Phase PodGroupPhase `json:"phase,omitempty"`
	// OccupiedBy names the workload whose pods make up the group, so
	// that tools can tell which job a group belongs to. It is empty until
	// the group leaves Pending; scheduler-plugins' controller then writes
	// the owner references of one member as NAMESPACE/NAME, sorted and
	// comma-separated (its API comment speaks of a UID, its code does
	// not).
	OccupiedBy string `json:"occupiedBy,omitempty"`
	// Running counts members in pod phase Running.
	Running int32 `json:"running,omitempty"`
	// Succeeded counts members in pod phase Succeeded.
	Succeeded int32 `json:"succeeded,omitempty"`
	// Failed counts members in pod phase Failed.
	Failed int32 `json:"failed,omitempty"`
	// ScheduleStartTime is when placing the gang began, for a scheduler
	// to record; zero means nobody did (scheduler-plugins' own components
	// no longer set it). Its PodGroup controller reads it: it gives up on
	// a Pending or Scheduling group with nothing running once this is more
	// than 48 hours after the group's creation.
	ScheduleStartTime metav1.Time `json:"scheduleStartTime,omitempty"`
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
