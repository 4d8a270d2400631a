// Package volumerestrictions provides VolumeRestrictions, which enforces
// the exclusive-use rules of volumes, with kube-scheduler v1.37's codes and
// reasons:
//
//   - In-line disks that cannot be mounted by two pods of one node: the same
//     GCE persistent disk unless every mount is read-only, the same AWS EBS
//     volume at all, the same iSCSI IQN unless every mount is read-only, and
//     the same Ceph RBD image (a shared monitor, same pool and image) unless
//     every mount is read-only. Filter rejects a node where another pod
//     holds such a disk ("node(s) had no available disk").
//   - PersistentVolumeClaims with the ReadWriteOncePod access mode: PreFilter
//     counts the pod's RWOP claims that a pod anywhere in the cluster already
//     uses (NodeInfo.PVCRefCounts of every node), and Filter rejects every
//     node while one is in use. Both rejections are Unschedulable, so
//     preemption may evict the holder; AddPod and RemovePod keep the count
//     right while preemption simulates removing pods.
//
// Every claim the pod names must exist: a missing one rejects the pod in
// PreFilter with the API's not-found message.
//
// Two deliberate differences from upstream, both about which pods count as
// users of a claim and both only visible with unusual claim names: a pod
// counts as a user of namespace/claim only if it is in that namespace
// (upstream's AddPod and RemovePod match the claim name alone, so a pod in
// another namespace with a same-named claim would be taken for a holder),
// and the claim of a generic ephemeral volume ("<pod>-<volume>") counts as
// used, as NodeInfo.PVCRefCounts counts it (upstream counts only
// persistentVolumeClaim volumes there).
package volumerestrictions
