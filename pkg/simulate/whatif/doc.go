// Package whatif answers "what if" questions about a real cluster with
// berth's own scheduling core, profiles and plugins, in process: where
// would the pending pods go now, and what changes with another scheduler
// configuration, with nodes removed (a zone drained) or added, or with
// more workloads; and how many more copies of a pod would fit.
//
// The input is a Snapshot: every object berth's plugins read, listed
// from a cluster by Save (`berth snapshot save`) or read from a file.
// Each run serves the snapshot's objects, changed as asked, to a fresh
// set of profiles through client-go's in-memory object tracker, so the
// informers and listers of `berth run` feed every plugin unchanged and
// nothing talks to a cluster (explain.FromCluster builds the evaluator).
//
// Pods are placed one at a time in the queue's order (priority, then
// creation time, then namespace and name): each is evaluated on every
// node, reserved on the best (so volume, DRA and GPU plugins hold what
// it took), and added to the evaluator's cache as bound, so later pods
// see it. Gangs are placed all or nothing; pods that did not fit are
// tried again after a pass that placed something, as the scheduler's
// queue retries them on cluster events. Preemption is not simulated.
//
// Run compares the baseline with the changed run (Result: moves, pods
// newly pending with the reason, utilisation per node and zone, and the
// capacity answer); Render prints it as text or JSON. The scheduler
// breaks ties between equally scored nodes at random; the what-if breaks
// them with a seeded source and marks the pods whose best nodes tied, so
// a comparison with a real run knows where chance, not the scores,
// decided.
package whatif
