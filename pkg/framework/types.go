package framework

import (
	"time"

	"k8s.io/apimachinery/pkg/util/sets"
)

// QueuedPodInfo is a pod as the scheduling queue holds it.
type QueuedPodInfo struct {
	*PodInfo
	// Timestamp is when the pod was last added to the queue.
	Timestamp time.Time
	// InitialAttemptTimestamp is when the pod was first popped, for the
	// end-to-end latency metric; nil before the first attempt.
	InitialAttemptTimestamp *time.Time
	// Attempts counts scheduling attempts, for backoff.
	Attempts int
	// UnschedulablePlugins are the plugins that rejected the pod in its
	// last attempt; only their registered events requeue it.
	UnschedulablePlugins sets.Set[string]
	// PendingPlugins are the plugins that returned Pending.
	PendingPlugins sets.Set[string]
	// Gated is set while a PreEnqueue plugin holds the pod back.
	Gated bool
	// GatedSince is when the pod was last gated; GateMessage is the
	// gating plugin's status ("Plugin: message"), GatePlugin its name.
	// GateReported and GateReportedAt are the message last reported on
	// the pod and when (see the queue's LongGated).
	GatedSince     time.Time
	GatePlugin     string
	GateMessage    string
	GateReported   string
	GateReportedAt time.Time
}

// DeepCopy copies the queue bookkeeping (the pod itself is shared).
func (q *QueuedPodInfo) DeepCopy() *QueuedPodInfo {
	out := *q
	out.UnschedulablePlugins = q.UnschedulablePlugins.Clone()
	out.PendingPlugins = q.PendingPlugins.Clone()
	return &out
}
