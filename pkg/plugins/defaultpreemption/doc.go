// Package defaultpreemption is the DefaultPreemption PostFilter plugin:
// when a pod fits no node, it looks for a node where evicting pods of lower
// priority would make room, picks the victims and the node the way
// kube-scheduler v1.37 does (fewest PodDisruptionBudget violations first),
// nominates the node for the pod and evicts the victims off the scheduling
// loop.
//
// The search (plugin.go, candidates.go, pdb.go) reads only the cycle's
// snapshot; the API side effects (executor.go) run asynchronously.
package defaultpreemption
