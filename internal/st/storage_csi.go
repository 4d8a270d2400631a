package st

import (
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// CSINodeWrapper builds a CSINode.
type CSINodeWrapper struct{ storagev1.CSINode }

// MakeCSINode starts the CSINode of node name (no drivers).
func MakeCSINode(name string) *CSINodeWrapper {
	n := &CSINodeWrapper{}
	n.CSINode.Name = name
	return n
}

// Obj returns the CSINode.
func (n *CSINodeWrapper) Obj() *storagev1.CSINode { return &n.CSINode }

// Driver adds a driver registered on the node with no attach limit.
func (n *CSINodeWrapper) Driver(name string, topologyKeys ...string) *CSINodeWrapper {
	n.Spec.Drivers = append(n.Spec.Drivers, storagev1.CSINodeDriver{
		Name: name, NodeID: n.CSINode.Name, TopologyKeys: topologyKeys})
	return n
}

// DriverLimit adds a driver that can attach at most count volumes to the
// node (spec.drivers[].allocatable.count).
func (n *CSINodeWrapper) DriverLimit(name string, count int32, topologyKeys ...string) *CSINodeWrapper {
	n.Driver(name, topologyKeys...)
	n.Spec.Drivers[len(n.Spec.Drivers)-1].Allocatable = &storagev1.VolumeNodeResources{Count: &count}
	return n
}

// Annotation adds an annotation (e.g. storage.alpha.kubernetes.io/migrated-plugins).
func (n *CSINodeWrapper) Annotation(k, v string) *CSINodeWrapper {
	if n.Annotations == nil {
		n.Annotations = map[string]string{}
	}
	n.Annotations[k] = v
	return n
}

// CSIDriverWrapper builds a CSIDriver.
type CSIDriverWrapper struct{ storagev1.CSIDriver }

// MakeCSIDriver starts a CSIDriver named name with an empty spec.
func MakeCSIDriver(name string) *CSIDriverWrapper {
	d := &CSIDriverWrapper{}
	d.CSIDriver.Name = name
	return d
}

// Obj returns the CSIDriver.
func (d *CSIDriverWrapper) Obj() *storagev1.CSIDriver { return &d.CSIDriver }

// AttachRequired sets spec.attachRequired.
func (d *CSIDriverWrapper) AttachRequired(b bool) *CSIDriverWrapper {
	d.Spec.AttachRequired = &b
	return d
}

// StorageCapacity sets spec.storageCapacity (the scheduler then checks
// CSIStorageCapacity objects for the driver's classes).
func (d *CSIDriverWrapper) StorageCapacity(b bool) *CSIDriverWrapper {
	d.Spec.StorageCapacity = &b
	return d
}

// PreventPodSchedulingIfMissing sets spec.preventPodSchedulingIfMissing.
func (d *CSIDriverWrapper) PreventPodSchedulingIfMissing(b bool) *CSIDriverWrapper {
	d.Spec.PreventPodSchedulingIfMissing = &b
	return d
}

// PodInfoOnMount sets spec.podInfoOnMount.
func (d *CSIDriverWrapper) PodInfoOnMount(b bool) *CSIDriverWrapper {
	d.Spec.PodInfoOnMount = &b
	return d
}

// CSIStorageCapacityWrapper builds a CSIStorageCapacity.
type CSIStorageCapacityWrapper struct{ storagev1.CSIStorageCapacity }

// MakeCSIStorageCapacity starts a CSIStorageCapacity name in namespace ns
// for the storage class sc.
func MakeCSIStorageCapacity(name, ns, sc string) *CSIStorageCapacityWrapper {
	c := &CSIStorageCapacityWrapper{}
	c.CSIStorageCapacity.Name = name
	c.CSIStorageCapacity.Namespace = ns
	c.StorageClassName = sc
	return c
}

// Obj returns the CSIStorageCapacity.
func (c *CSIStorageCapacityWrapper) Obj() *storagev1.CSIStorageCapacity { return &c.CSIStorageCapacity }

// Capacity sets capacity, e.g. Capacity("100Gi").
func (c *CSIStorageCapacityWrapper) Capacity(q string) *CSIStorageCapacityWrapper {
	v := resource.MustParse(q)
	c.CSIStorageCapacity.Capacity = &v
	return c
}

// MaximumVolumeSize sets maximumVolumeSize.
func (c *CSIStorageCapacityWrapper) MaximumVolumeSize(q string) *CSIStorageCapacityWrapper {
	v := resource.MustParse(q)
	c.CSIStorageCapacity.MaximumVolumeSize = &v
	return c
}

// NodeTopology sets nodeTopology, the selector of the nodes the capacity
// is for.
func (c *CSIStorageCapacityWrapper) NodeTopology(sel *metav1.LabelSelector) *CSIStorageCapacityWrapper {
	c.CSIStorageCapacity.NodeTopology = sel
	return c
}

// TopologyLabel adds k=v to nodeTopology's matchLabels.
func (c *CSIStorageCapacityWrapper) TopologyLabel(k, v string) *CSIStorageCapacityWrapper {
	if c.CSIStorageCapacity.NodeTopology == nil {
		c.CSIStorageCapacity.NodeTopology = &metav1.LabelSelector{}
	}
	if c.CSIStorageCapacity.NodeTopology.MatchLabels == nil {
		c.CSIStorageCapacity.NodeTopology.MatchLabels = map[string]string{}
	}
	c.CSIStorageCapacity.NodeTopology.MatchLabels[k] = v
	return c
}

// VolumeAttachmentWrapper builds a VolumeAttachment.
type VolumeAttachmentWrapper struct{ storagev1.VolumeAttachment }

// MakeVolumeAttachment starts a VolumeAttachment named name.
func MakeVolumeAttachment(name string) *VolumeAttachmentWrapper {
	va := &VolumeAttachmentWrapper{}
	va.VolumeAttachment.Name = name
	return va
}

// Obj returns the VolumeAttachment.
func (va *VolumeAttachmentWrapper) Obj() *storagev1.VolumeAttachment { return &va.VolumeAttachment }

// Attacher sets spec.attacher (the CSI driver name).
func (va *VolumeAttachmentWrapper) Attacher(driver string) *VolumeAttachmentWrapper {
	va.Spec.Attacher = driver
	return va
}

// Node sets spec.nodeName.
func (va *VolumeAttachmentWrapper) Node(name string) *VolumeAttachmentWrapper {
	va.Spec.NodeName = name
	return va
}

// PV sets spec.source.persistentVolumeName.
func (va *VolumeAttachmentWrapper) PV(name string) *VolumeAttachmentWrapper {
	va.Spec.Source.PersistentVolumeName = &name
	return va
}

// Attached sets status.attached.
func (va *VolumeAttachmentWrapper) Attached(b bool) *VolumeAttachmentWrapper {
	va.Status.Attached = b
	return va
}
