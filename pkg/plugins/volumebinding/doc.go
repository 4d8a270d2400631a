// Package volumebinding is the VolumeBinding plugin: placement for pods
// whose volumes use PersistentVolumeClaims, with kube-scheduler v1.37's
// verdicts and reason strings.
//
// PreFilter sorts the pod's claims into bound, WaitForFirstConsumer
// ("delayed") and Immediate ones; an unbound Immediate claim, or a claim
// that is missing, lost or terminating, rejects the pod everywhere. Filter
// checks a node: every bound claim's PV must admit it; each delayed claim
// is matched to the smallest fitting Available PV of its class that admits
// the node, or else provisioned, which needs a provisioner, the class's
// allowedTopologies to admit the node and, when the CSIDriver tracks
// capacity, a CSIStorageCapacity the node reaches that holds the claim.
// Score rates storage utilisation per class on a configurable shape.
//
// Decisions are made on informer caches with an assume layer on top
// (assume.go): Reserve records the chosen PVs and selected nodes there so
// the next pods see them before the API does, Unreserve drops them, and
// PreBind writes them (PV claimRef; the claim's selected-node annotation)
// then waits, bounded by bindTimeoutSeconds, for the PV controller and the
// provisioner to finish. Claims berth binds carry a berth.io/bound-at
// annotation.
package volumebinding
