// Package nodevolumelimits provides NodeVolumeLimits, which keeps a node's
// CSI drivers within the number of volumes they can attach to it, with
// kube-scheduler v1.37's verdicts and reasons.
//
// A driver's limit is the allocatable count its CSINode entry reports; a
// driver without one, or a node without a CSINode, has no limit. Filter
// counts, per driver, the distinct volumes ("driver/volumeHandle") that the
// pods on the node use plus those that VolumeAttachments of the node hold,
// and rejects the node ("node(s) exceed max volume count", Unschedulable,
// so preemption may help) when the pod's volumes not already counted would
// take a driver over its limit. A volume shared with a pod already on the
// node is counted once.
//
// A pod volume is resolved to its driver and handle through its claim
// (persistentVolumeClaim and generic ephemeral volumes, whose claim must be
// owned by the pod): a bound claim through its PersistentVolume, an unbound
// one (or one whose volume is gone) through its StorageClass's provisioner,
// with a handle unique to the claim. A missing claim of the pod rejects it
// as UnschedulableAndUnresolvable; missing claims of pods already on the
// node are not counted.
//
// In-tree volumes (in-line or as PersistentVolumes, and claims of in-tree
// provisioners) count against the CSI driver they migrate to when a CSINode
// exists, through k8s.io/csi-translation-lib, for the plugins kube-scheduler
// treats as migrated: AWS EBS, GCE PD, Azure Disk, Cinder and Portworx.
//
// As with kube-scheduler v1.37's default VolumeLimitScaling gate, a CSIDriver
// with preventPodSchedulingIfMissing rejects nodes whose CSINode does not
// list the driver ("<driver> CSI driver is not installed on the node").
// When several of the pod's drivers are missing, berth names the first in
// name order (upstream's choice depends on map order).
package nodevolumelimits
