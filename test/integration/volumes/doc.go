// Package volumes is the end-to-end test of berth's volume scheduling
// (VolumeBinding with the storage plugins around it) against a real
// control plane: kube-apiserver, kube-controller-manager (the StatefulSet,
// PV binder and ephemeral volume controllers) and devcluster's local
// dynamic provisioner, which publishes a CSIStorageCapacity per node and
// StorageClass. berth runs in-process; every verdict is read back from the
// API server: where the pods were bound, which PV each claim got, whether
// the PV's node affinity admits the pod's node, the berth.io/bound-at
// stamp, and, for pods that cannot be placed, the PodScheduled=False
// message naming the storage problem.
//
// The package shares one fleet (three zones) across its tests, plus a
// tainted pool with per-node local capacities that only the capacity test
// tolerates; each test runs its own berth and namespace.
package volumes
