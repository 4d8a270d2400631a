// Package scheduler is berth's engine: it wires the informers, the cache,
// the queue and the profiles together and runs the two cycles.
//
// The scheduling cycle (ScheduleOne) is a thin shell around the core
// (pkg/scheduler/core): pop a pod, update the snapshot, let core.Evaluate
// run PreFilter, Filter over a sample of nodes, PreScore, Score and the
// choice, then PostFilter if nothing fits, or Reserve, Permit and assume
// the pod in the cache. It makes no API calls, so tests drive it
// synchronously. The shell owns what the core is given: the random source,
// the start-node rotation, the nominator and the equivalence memo.
//
// Evaluator runs the same core outside the loop, on every node and
// without side effects: `berth explain` builds one over a snapshot of the
// live cluster, and /debug/explain one over the scheduler's own cache.
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
