package volumerestrictions

import (
	"slices"

	v1 "k8s.io/api/core/v1"

	"github.com/berthsched/berth/pkg/framework"
)

// hasExclusiveDisk reports whether v is an in-line disk kind whose
// concurrent use by two pods of one node is restricted.
func hasExclusiveDisk(v v1.Volume) bool {
	return v.GCEPersistentDisk != nil || v.AWSElasticBlockStore != nil || v.RBD != nil || v.ISCSI != nil
}

// disksAvailable reports whether none of the pod's restricted in-line
// disks is held, in a conflicting way, by a pod on the node.
func disksAvailable(pod *v1.Pod, nodeInfo *framework.NodeInfo) bool {
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		if !hasExclusiveDisk(*v) {
			continue
		}
		for _, pi := range nodeInfo.Pods {
			if conflictsWithPod(v, pi.Pod) {
				return false
			}
		}
	}
	return true
}

// conflictsWithPod reports whether v cannot be mounted while other is
// running on the same node.
func conflictsWithPod(v *v1.Volume, other *v1.Pod) bool {
	for i := range other.Spec.Volumes {
		if disksConflict(v, &other.Spec.Volumes[i]) {
			return true
		}
	}
	return false
}

// disksConflict applies each disk kind's rule to two volumes:
//   - GCE PD: the same disk, unless both mounts are read-only;
//   - AWS EBS: the same volume ID, whatever the mode;
//   - iSCSI: the same IQN, unless both mounts are read-only;
//   - Ceph RBD: the same image (a monitor in common, same pool and image),
//     unless both mounts are read-only.
func disksConflict(a, b *v1.Volume) bool {
	switch {
	case a.GCEPersistentDisk != nil && b.GCEPersistentDisk != nil:
		x, y := a.GCEPersistentDisk, b.GCEPersistentDisk
		return x.PDName == y.PDName && !(x.ReadOnly && y.ReadOnly)
	case a.AWSElasticBlockStore != nil && b.AWSElasticBlockStore != nil:
		return a.AWSElasticBlockStore.VolumeID == b.AWSElasticBlockStore.VolumeID
	case a.ISCSI != nil && b.ISCSI != nil:
		x, y := a.ISCSI, b.ISCSI
		return x.IQN == y.IQN && !(x.ReadOnly && y.ReadOnly)
	case a.RBD != nil && b.RBD != nil:
		x, y := a.RBD, b.RBD
		return x.RBDPool == y.RBDPool && x.RBDImage == y.RBDImage && !(x.ReadOnly && y.ReadOnly) &&
			slices.ContainsFunc(x.CephMonitors, func(m string) bool { return slices.Contains(y.CephMonitors, m) })
	}
	return false
}
