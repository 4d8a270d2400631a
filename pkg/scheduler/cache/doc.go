// Package cache is the engine's memory of the cluster: one NodeInfo per node
// with the pods on it, fed by the informer event handlers, plus the pods the
// scheduler has placed but the API server has not yet reported as bound.
// Once per scheduling cycle the engine copies what changed into a Snapshot,
// which is the only cluster state plugins ever read.
//
// # Assumed pods
//
// Binding is asynchronous, so between "the scheduler chose node N for pod P"
// and "the informer shows P bound to N" there is a window in which N must
// already look full to the next cycles. The cache fills that window by
// assuming the pod. A pod key (its UID) moves through these states:
//
//	            AssumePod                  AddPod / UpdatePod
//	Initial ──────────────► Assumed ─────────────────────────► Added
//	   │                    │     │                               │
//	   │          ForgetPod │     │ FinishBinding, then           │ RemovePod
//	   │                    ▼     ▼ no AddPod within the TTL      ▼
//	   │               Forgotten  Expired                      Deleted
//	   │ AddPod (a pod bound by someone else)
//	   └──────────────────────────────────────────────────────► Added
//
// In words:
//
//   - Assumed: the scheduling cycle picked a node and called AssumePod. The
//     pod's requests, ports and affinity count on that node from now on.
//   - Forgotten: binding failed and the binding cycle called ForgetPod; the
//     pod is gone from the cache as if it had never been assumed.
//   - Added: the informer reported the pod bound. This confirms the
//     assumption; if the informer's node differs from the assumed one, the
//     informer wins and the pod moves. Added pods never expire.
//   - Expired: FinishBinding starts a clock of ttl. If no add event arrives by
//     then (a lost event, a pod deleted before its add was seen), the pod
//     would hold capacity forever, so the cleanup loop drops it and logs it.
//     With a BindingCheck (the engine sets one) the loop first asks the API
//     server: a pod it has bound is confirmed (Added) instead, because an
//     informer lagging more than the TTL is not a lost bind, and dropping
//     the pod would free capacity it holds; a pod the server cannot be
//     asked about stays assumed for another TTL.
//     Before FinishBinding an assumed pod never expires, because the binding
//     cycle still owns it and will either finish or forget it.
//   - Deleted: the informer reported the pod gone (or terminal).
//
// # Generations and snapshots
//
// Every change to a NodeInfo stamps it with the next value of one global
// counter and moves it to the head of a doubly linked list, so the list is
// ordered newest first. UpdateSnapshot walks the list from the head and stops
// at the first NodeInfo the snapshot has already seen: the work per cycle is
// proportional to what changed, not to the cluster size. The snapshot's node
// list, and its sub-lists of nodes with (anti-)affinity pods, are rebuilt only
// when their membership changes.
//
// # Consistency
//
// Reconcile compares the cache with the informers' stores, repairs every
// difference and reports it through Metrics, so a lost event costs one
// check period instead of a wrong cache for the life of the process.
package cache
