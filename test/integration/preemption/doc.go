// Package preemption tests berth's priority preemption end to end on a
// control plane with kube-controller-manager running, so that ReplicaSets
// re-create evicted pods and the disruption controller keeps
// PodDisruptionBudget status current.
package preemption
