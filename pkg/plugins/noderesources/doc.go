// Package noderesources holds berth's two resource plugins, which reach the
// same verdicts and normalised scores as kube-scheduler v1.37's plugins of
// the same names:
//
//   - NodeResourcesFit (Fit) rejects a node whose free allocatable
//     (allocatable minus the requests of the pods already on it) cannot hold
//     the pod's requests, and ranks the nodes that can by a configurable
//     strategy: LeastAllocated (spread), MostAllocated (bin-pack) or
//     RequestedToCapacityRatio (a piecewise-linear utilisation curve).
//   - NodeResourcesBalancedAllocation (BalancedAllocation) prefers nodes
//     whose resources stay evenly used once the pod is placed, so that one
//     resource does not run out while others are left stranded.
//
// The pod's requests are computed once per scheduling attempt (PreFilter and
// PreScore) with k8s.io/component-helpers, which already accounts for init
// containers, sidecars, pod overhead and pod-level resources, and are kept in
// CycleState for the per-node calls that run in parallel.
//
// Plugin args are the upstream v1 config types (configv1.NodeResourcesFitArgs
// and configv1.NodeResourcesBalancedAllocationArgs) so that one
// KubeSchedulerConfiguration works for both schedulers; defaulting and
// validation are separate exported functions that pkg/config reuses.
package noderesources
