// Package queue holds the pods that wait to be scheduled and decides which
// one the scheduling loop tries next.
//
// A PriorityQueue keeps every pending pod in exactly one of three places:
//
//   - activeQ, a heap ordered by the QueueSort plugin, from which Pop takes
//     the next pod to schedule;
//   - backoffQ, a heap ordered by backoff expiry, where a pod that just
//     failed waits initialBackoff*2^(attempts-1) (capped at maxBackoff)
//     before it may be tried again, so one hopeless pod cannot starve the
//     others; when activeQ is empty, Pop takes its first pod at once if an
//     event moved it there (not one that failed with an error), as
//     kube-scheduler's SchedulerPopFromBackoffQ does, so an idle scheduler
//     does not sit out backoffs;
//   - the unschedulable pool, where a rejected pod sleeps until a cluster
//     event that one of its rejecting plugins registered for (and whose
//     QueueingHintFn agrees) may make it schedulable, or until
//     UnschedulableTimeout passes as a safety net.
//
// PreEnqueue plugins are run whenever a pod is about to enter activeQ; a pod
// they hold back is parked in the pool as Gated, is never counted as an
// attempt, and is released by the gating plugin's own events.
//
// A pod between Pop and AddUnschedulableIfNotPresent (or Done) is "in
// flight": it is in none of the three places. Cluster events, updates,
// deletions and activations that arrive meanwhile are remembered for it, so
// that when the attempt fails the pod is requeued if any of them may have
// helped, instead of sleeping in the pool on stale information.
//
// The queue is internal to the engine (pkg/scheduler); plugins never see it.
package queue
