package framework

import (
	"context"
	"time"

	v1 "k8s.io/api/core/v1"
)

// PodGroup is a gang as the engine sees it, whichever API declared it
// (Kubernetes' scheduling.k8s.io PodGroup, the scheduler-plugins CRD or
// Volcano's). The engine places MinMember of its members in one step, all
// or none, so that no gang ever holds part of the cluster while it waits
// for siblings that cannot come.
type PodGroup struct {
	// Key identifies the group across APIs: "<api group>/<namespace>/<name>".
	Key string
	// API is the API group that declared it (e.g. scheduling.x-k8s.io).
	API string
	// Namespace and Name are the group object's.
	Namespace, Name string
	// MinMember is how many members must be placed together; a group
	// with MinMember <= 1 is scheduled pod by pod.
	MinMember int
	// MinResources, if set, is what the whole group needs at least; a
	// cluster whose total allocatable is smaller can never run it.
	MinResources v1.ResourceList
	// ScheduleTimeout, if set, is how long the group may stay unplaced
	// before its status says it failed to schedule (members keep being
	// retried).
	ScheduleTimeout time.Duration
	// TopologyKey, if set, is a node label: all members are placed on
	// nodes with the same value of it (one zone, rack or GPU island).
	TopologyKey string
	// Created is when the group object was created (for the timeout).
	Created time.Time
}

// GroupOutcome is what one attempt to place a group decided.
type GroupOutcome string

// Group outcomes reported to GroupPlugin.ReportGroup.
const (
	// GroupWaiting: fewer members exist than MinMember.
	GroupWaiting GroupOutcome = "Waiting"
	// GroupPlaced: MinMember members were reserved; they are binding.
	GroupPlaced GroupOutcome = "Placed"
	// GroupBound: every placed member of the attempt was bound.
	GroupBound GroupOutcome = "Bound"
	// GroupUnschedulable: the members could not be placed whole; none
	// were kept.
	GroupUnschedulable GroupOutcome = "Unschedulable"
	// GroupError: an internal error stopped the attempt.
	GroupError GroupOutcome = "Error"
)

// GroupReport is one attempt's outcome, for the group's status and events.
type GroupReport struct {
	Group   *PodGroup
	Outcome GroupOutcome
	// Placed is how many members this attempt reserved (or bound);
	// Scheduled counts every member bound or reserved after it.
	Placed, Scheduled int
	// Message says why, for the group's condition and events.
	Message string
}

// GroupPlugin is implemented by the plugin that knows which pods form a
// gang. The engine asks it for a popped pod's group, then takes every
// queued member of that group from the queue and places them on one
// snapshot as one transaction (members see each other's reservations):
// MinMember of them reserved, or none. At most one enabled plugin of a
// profile may implement it.
type GroupPlugin interface {
	Plugin
	// GroupKey returns the key of the group the pod names (in its spec,
	// labels or annotations), or "" when it names none. It needs no
	// lookup, so the engine calls it for every queued pod to find a
	// group's members.
	GroupKey(pod *v1.Pod) string
	// PodGroup resolves the pod's group. It returns nil and success when
	// the pod is scheduled alone (no group, or a group without a gang
	// policy), and a rejection when the group object is missing or
	// invalid (the message says which).
	PodGroup(pod *v1.Pod) (*PodGroup, *Status)
	// Members lists the pods that exist for a group (bound or not, not
	// terminated), from the plugin's informer index.
	Members(key string) []*v1.Pod
	// ReportGroup records an attempt's outcome: the group's status in the
	// API and its events. It must not block.
	ReportGroup(ctx context.Context, report GroupReport)
}
