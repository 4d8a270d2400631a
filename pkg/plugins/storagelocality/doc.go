// Package storagelocality is berth's storage-aware scoring plugin,
// StorageLocality, which kube-scheduler has no counterpart for. It scores
// only pods that use PersistentVolumeClaims, on three signals:
//
//   - zone cohesion: nodes in a zone that every one of the pod's bound
//     volumes can reach score higher, so a pod whose volumes span zones
//     runs where most of them are and new claims are provisioned next to
//     them;
//   - same-class locality: for claims still to be bound, nodes near the
//     volumes of the same StorageClass the pod already uses (same node,
//     then same zone) score higher, so a pod's volumes of one kind stay
//     together;
//   - local capacity: for claims to be provisioned by a driver that
//     publishes CSIStorageCapacity, nodes are scored by the free capacity
//     left after the claims, either packing (fill nodes up, keep large
//     free extents elsewhere) or spreading (balance free space), chosen by
//     args.
//
// Filters decide feasibility (VolumeBinding, VolumeZone); this plugin
// only ranks feasible nodes. Its verdict never depends on other pods, and
// it reads volumes, claims and capacities from informers.
package storagelocality
