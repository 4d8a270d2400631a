// Package scheduler is berth's engine: it wires the informers, the cache,
// the queue and the profiles together and runs the two cycles.
//
// The scheduling cycle (ScheduleOne) is a function over one snapshot: pop a
// pod, PreFilter, Filter in parallel over a sample of nodes, PostFilter if
// nothing fits, PreScore and Score over the feasible nodes, pick the best
// (ties broken at random), Reserve, Permit, and assume the pod in the cache.
// It makes no API calls, so tests drive it synchronously.
//
// The binding cycle runs asynchronously with a bounded number in flight and
// its own client rate limiter: WaitOnPermit, PreBind, Bind, PostBind. A bind
// the API server rejects because the pod is already bound or gone is never
// retried; transient errors are retried with backoff; any failure undoes
// the reservation so no capacity is held by a ghost.
//
// Failures are reported off the loop: an event and a PodScheduled=False
// condition whose message counts the reasons per node, like
// "0/5000 nodes are available: 4990 Insufficient cpu, 10 node(s) didn't
// match Pod's node affinity/selector."
package scheduler
